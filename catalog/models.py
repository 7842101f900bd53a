"""The anime catalog, keyed by MyAnimeList id, with the MAL API v2 fields we browse and model on."""

from __future__ import annotations

from django.db import models

from animender import runs

from .records import SEASONS


class Genre(models.Model):
    """A MAL genre; MAL mixes themes and demographics (Shounen, Mecha...) into one list."""

    name = models.CharField(max_length=100, unique=True)
    mal_id = models.PositiveIntegerField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Studio(models.Model):
    name = models.CharField(max_length=200, unique=True)
    mal_id = models.PositiveIntegerField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Anime(models.Model):
    class MediaType(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        TV = "tv", "TV"
        OVA = "ova", "OVA"
        MOVIE = "movie", "Movie"
        SPECIAL = "special", "Special"
        ONA = "ona", "ONA"
        MUSIC = "music", "Music"
        TV_SPECIAL = "tv_special", "TV Special"
        CM = "cm", "CM"
        PV = "pv", "PV"

    class Status(models.TextChoices):
        FINISHED = "finished_airing", "Finished airing"
        AIRING = "currently_airing", "Currently airing"
        NOT_YET_AIRED = "not_yet_aired", "Not yet aired"

    # Built from records.SEASONS, the one list of seasons (CSV, MAL mapping, sync, filters).
    Season = models.TextChoices("Season", [(s.upper(), (s, s.capitalize())) for s in SEASONS])

    class Rating(models.TextChoices):
        G = "g", "G - All Ages"
        PG = "pg", "PG - Children"
        PG_13 = "pg_13", "PG-13 - Teens 13 or older"
        R = "r", "R - 17+ (violence & profanity)"
        R_PLUS = "r+", "R+ - Mild Nudity"
        RX = "rx", "Rx - Hentai"

    class Nsfw(models.TextChoices):
        WHITE = "white", "Safe"
        GRAY = "gray", "May be unsafe"
        BLACK = "black", "Unsafe"

    mal_id = models.PositiveIntegerField(primary_key=True)
    title = models.CharField(max_length=500)
    title_english = models.CharField(max_length=500, blank=True, default="")
    title_japanese = models.CharField(max_length=500, blank=True, default="")
    synonyms = models.JSONField(default=list, blank=True)
    # Lower-cased join of every title: one indexed-friendly column to search all names at once.
    search_text = models.TextField(blank=True, default="", editable=False)
    synopsis = models.TextField(blank=True, default="")
    media_type = models.CharField(max_length=20, choices=MediaType.choices, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, blank=True, default="")
    num_episodes = models.PositiveIntegerField(null=True, blank=True)
    # MAL dates can be partial ("2017", "2017-10"), so they are kept as MAL sends them.
    start_date = models.CharField(max_length=10, blank=True, default="")
    end_date = models.CharField(max_length=10, blank=True, default="")
    start_season = models.CharField(max_length=10, choices=Season.choices, blank=True, default="")
    start_year = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    source = models.CharField(max_length=30, blank=True, default="")
    rating = models.CharField(max_length=10, choices=Rating.choices, blank=True, default="")
    mean = models.FloatField(null=True, blank=True, db_index=True)
    rank = models.PositiveIntegerField(null=True, blank=True)
    popularity = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    num_list_users = models.PositiveIntegerField(null=True, blank=True)
    num_scoring_users = models.PositiveIntegerField(null=True, blank=True)
    num_favorites = models.PositiveIntegerField(null=True, blank=True)
    average_episode_duration = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds."
    )
    nsfw = models.CharField(max_length=10, choices=Nsfw.choices, blank=True, default="")
    # True for Hentai-tagged or rx-rated titles; hidden unless SHOW_ADULT_CONTENT.
    is_adult = models.BooleanField(default=False, db_index=True)
    picture_medium = models.URLField(max_length=500, blank=True, default="")
    picture_large = models.URLField(max_length=500, blank=True, default="")
    genres = models.ManyToManyField(Genre, related_name="anime", blank=True)
    studios = models.ManyToManyField(Studio, related_name="anime", blank=True)
    mal_updated_at = models.DateTimeField(null=True, blank=True)
    # When MAL's related_anime were last fetched (None: never); the relation sync walks
    # titles by this column, so an interrupted sync resumes where it stopped.
    relations_synced_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["mal_id"]
        indexes = [models.Index(fields=["start_year", "start_season"])]

    def __str__(self) -> str:
        return self.title

    @property
    def picture_url(self) -> str:
        return self.picture_large or self.picture_medium

    @property
    def mal_url(self) -> str:
        return f"https://myanimelist.net/anime/{self.mal_id}"


class AnimeRelation(models.Model):
    """One MAL ``related_anime`` edge: ``related`` is ``relation_type`` of ``anime``.

    ``related_id`` is a plain id, not a foreign key: MAL relates titles our catalog may not
    hold yet (or hides as adult), and an edge must survive until that title arrives.
    """

    class Type(models.TextChoices):
        SEQUEL = "sequel", "Sequel"
        PREQUEL = "prequel", "Prequel"
        ALTERNATIVE_SETTING = "alternative_setting", "Alternative setting"
        ALTERNATIVE_VERSION = "alternative_version", "Alternative version"
        SIDE_STORY = "side_story", "Side story"
        PARENT_STORY = "parent_story", "Parent story"
        SUMMARY = "summary", "Summary"
        FULL_STORY = "full_story", "Full story"
        SPIN_OFF = "spin_off", "Spin-off"
        CHARACTER = "character", "Character"
        OTHER = "other", "Other"

    anime = models.ForeignKey(Anime, on_delete=models.CASCADE, related_name="relations")
    related_id = models.PositiveIntegerField(db_index=True)
    relation_type = models.CharField(max_length=30, choices=Type.choices)

    class Meta:
        ordering = ["anime_id", "related_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["anime", "related_id", "relation_type"], name="uniq_anime_relation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.related_id} is {self.relation_type} of {self.anime_id}"


class SyncRun(runs.RunRow):
    """One catalog sync: progress, counts and the checkpoint an interrupted run resumes from.

    At most one sync per mode is queued or running (a partial unique constraint); the
    worker claims the row and beats ``heartbeat_at`` (see :mod:`animender.runs`). A sync
    whose worker died is queued again *on the same row*, so it continues at its committed
    checkpoint and its ``attempts`` count every worker that died on it, up to the cap. A
    run that failed for a ``retryable`` reason (429, 5xx), with the plan of the current
    day, is resumed by the next sync: a new row with ``resumed_from``.
    """

    class Mode(models.TextChoices):
        FULL = "full", "Full (ranking walk)"
        SEASONAL = "seasonal", "Seasonal (incremental)"

    class State(models.TextChoices):
        QUEUED = runs.QUEUED, "Queued"
        RUNNING = runs.RUNNING, "Running"
        DONE = runs.DONE, "Done"
        FAILED = runs.FAILED, "Failed"

    mode = models.CharField(max_length=10, choices=Mode.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    # The Celery message that started it: a redelivered message finds its run and returns.
    task_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    # Every endpoint of the run's plan; a plan made for another season is not resumed.
    plan = models.JSONField(default=list, blank=True)
    # Checkpoint: which endpoint/params are being walked and the next offset to fetch.
    endpoint = models.CharField(max_length=200, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    next_offset = models.PositiveIntegerField(default=0)
    pending = models.JSONField(
        default=list, blank=True, help_text="Endpoints still to walk after the current one."
    )
    pages = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    titles_created = models.PositiveIntegerField(default=0)
    titles_updated = models.PositiveIntegerField(default=0)
    retryable = models.BooleanField(
        default=False, help_text="Failed for a passing reason (429, 5xx, timeout): resumable."
    )
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumptions"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["mode"],
                condition=models.Q(state__in=runs.ACTIVE_STATES),
                name="one_active_sync_per_mode",
            )
        ]

    def __str__(self) -> str:
        return f"{self.mode} sync #{self.pk} ({self.state})"
