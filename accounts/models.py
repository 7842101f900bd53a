"""Each member's profile and personal anime list (the platform's own ratings)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from animender.runs import ACTIVE_STATES, RunRow


class Profile(models.Model):
    """Per-user preferences; created on first access (see ``accounts.services``)."""

    class TitleLanguage(models.TextChoices):
        ROMAJI = "romaji", "Romaji (MAL title)"
        ENGLISH = "english", "English"
        JAPANESE = "japanese", "Japanese"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    mal_username = models.CharField(max_length=32, blank=True, default="")
    show_adult = models.BooleanField(default=False)
    title_language = models.CharField(
        max_length=10, choices=TitleLanguage.choices, default=TitleLanguage.ROMAJI
    )
    list_private = models.BooleanField(default=True)
    # Per-user taste model: use the list (score >= like / <= dislike thresholds) as labels.
    labels_from_list = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"


class ListEntry(models.Model):
    """One title on one member's list: MAL's list_status, plus our "not interested"."""

    class Status(models.TextChoices):
        WATCHING = "watching", "Watching"
        COMPLETED = "completed", "Completed"
        ON_HOLD = "on_hold", "On hold"
        DROPPED = "dropped", "Dropped"
        PLAN_TO_WATCH = "plan_to_watch", "Plan to watch"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="list_entries"
    )
    anime = models.ForeignKey("catalog.Anime", on_delete=models.CASCADE, related_name="+")
    # Blank status with not_interested=True: hidden from queues and recommendations only.
    status = models.CharField(max_length=20, choices=Status.choices, blank=True, default="")
    score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1-10, or none")
    episodes_watched = models.PositiveIntegerField(default=0)
    not_interested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "anime"], name="uniq_list_entry_user_anime"),
            models.CheckConstraint(
                condition=models.Q(score__isnull=True) | models.Q(score__gte=1, score__lte=10),
                name="list_entry_score_range",
            ),
        ]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"{self.user_id} · {self.anime_id}: {self.status} {self.score}"


class ImportRun(RunRow):
    """One list import (MAL username or XML export); pages and the API read progress here.

    Progress lives on this row, not in Celery's result backend: queued -> running -> done |
    failed, by the one lifecycle of :mod:`animender.runs`. At most one queued-or-running
    import per member, enforced by a partial unique constraint (not a check-then-act), so
    two clicks or a redelivered task cannot race.
    """

    class Source(models.TextChoices):
        MAL_API = "mal_api", "MyAnimeList username"
        XML = "xml", "MyAnimeList XML export"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    ACTIVE = ACTIVE_STATES

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_runs"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    mal_username = models.CharField(max_length=32, blank=True, default="")
    filename = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    phase = models.CharField(max_length=80, blank=True, default="", help_text="What it does now.")
    # The uploaded export (gzip or plain XML, as sent) waits here for the task, which parses
    # it and clears it when the run ends. In the database, not on file storage: a worker on
    # another host shares the database but not necessarily a media folder.
    upload = models.BinaryField(null=True, blank=True, editable=False)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    titles_fetched = models.PositiveIntegerField(default=0)
    # Titles neither in the catalog nor fetchable from MAL: [{"mal_id": .., "title": ..}].
    missing = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(state__in=["queued", "running"]),
                name="one_active_import_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"import #{self.pk} of {self.user_id} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return int(100 * self.processed / self.total) if self.total else 0


class ApiToken(models.Model):
    """A named API key for scripts; a member may hold several and revoke each.

    Only a SHA-256 of the key is stored (keys are 256-bit random, so a fast hash is enough,
    as GitHub does for its tokens); the key itself is shown once, when it is created.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=64)
    prefix = models.CharField(max_length=12, help_text="Start of the key, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"token {self.prefix}… of {self.user_id}"
