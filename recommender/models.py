"""Community ratings the global models learn from, their training runs and model versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from animender import runs

from .ml.preferences import UNSCORED
from .ml.registry import engine_choices, score_predictor


class CommunityRating(models.Model):
    """One row of an imported community data set (not a login account).

    ``member`` is the data set's own user id; ``score`` is 1-10, or -1 for completed but
    not scored (an implicit positive, ``UNSCORED``).
    """

    member = models.PositiveIntegerField()
    anime = models.ForeignKey(
        "catalog.Anime", on_delete=models.CASCADE, related_name="community_ratings", db_index=False
    )
    score = models.SmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "anime"], name="uniq_member_anime"),
            models.CheckConstraint(
                condition=models.Q(score=UNSCORED) | models.Q(score__gte=1, score__lte=10),
                name="community_score_range",
            ),
        ]
        indexes = [models.Index(fields=["anime"])]

    def __str__(self) -> str:
        return f"member {self.member} · {self.anime_id}: {self.score}"


class TrainingRun(runs.RunRow):
    """One training of a global engine; pages and the API read progress from this row.

    At most one run per engine is queued or running (a partial unique constraint); a
    worker claims a queued run with one conditional UPDATE and beats ``heartbeat_at``
    while it trains (see :mod:`animender.runs`).
    """

    class State(models.TextChoices):
        QUEUED = runs.QUEUED, "Queued"
        RUNNING = runs.RUNNING, "Running"
        DONE = runs.DONE, "Done"
        FAILED = runs.FAILED, "Failed"

    # Choices come from the engine registry (a callable: no migration per new engine).
    engine = models.CharField(max_length=30, choices=engine_choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger = models.CharField(
        max_length=20, default="manual", help_text="manual, schedule, api or command"
    )
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    version = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["engine"],
                condition=models.Q(state__in=runs.ACTIVE_STATES),
                name="one_active_training_run_per_engine",
            )
        ]

    def __str__(self) -> str:
        return f"{self.engine} run #{self.pk} ({self.state})"


class EvaluationRun(runs.RunRow):
    """One offline evaluation of every engine and baseline; the Engines page shows the
    latest finished one and follows the progress of a running one."""

    class State(models.TextChoices):
        QUEUED = runs.QUEUED, "Queued"
        RUNNING = runs.RUNNING, "Running"
        DONE = runs.DONE, "Done"
        FAILED = runs.FAILED, "Failed"

    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    # True while queued or running, NULL after: the partial unique constraint below lets
    # the database, not a check-then-act, keep to one evaluation at a time.
    active = models.BooleanField(null=True, default=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger = models.CharField(max_length=20, default="manual", help_text="manual, api or command")
    quick = models.BooleanField(default=False, help_text="small model settings (smoke run)")
    engines = models.JSONField(default=list, blank=True, help_text="[] = every engine")
    data_source = models.CharField(max_length=300, blank=True, default="")
    steps_done = models.PositiveIntegerField(default=0)
    steps_total = models.PositiveIntegerField(default=0)
    current_step = models.CharField(max_length=100, blank=True, default="")
    # {engine: {metric: value}} and the harness's "meta" (splits, sizes, seeds).
    results = models.JSONField(default=dict, blank=True)
    meta = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=models.Q(active=True), name="one_active_evaluation"
            )
        ]

    def __str__(self) -> str:
        return f"evaluation #{self.pk} ({self.state})"

    @property
    def percent(self) -> int:
        return round(100 * self.steps_done / self.steps_total) if self.steps_total else 0


class UserRecommendation(models.Model):
    """One stored card of one member's recommendations for one engine.

    Written in the background by :mod:`recommender.personal.services` (one franchise per
    card, ranked); the recommendations page and ``/api/me/recommendations/`` read only these
    rows, so a request never loads or runs a model. ``engine`` is a registered engine's
    name or ``"taste"`` (the member's own taste model): see
    ``recommender.personal.selectors.ENGINE_ORDER``.
    """

    class Section(models.TextChoices):
        DISCOVER = "discover", "New to you"
        PLAN = "plan_to_watch", "On your plan-to-watch list"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recommendations"
    )
    engine = models.CharField(max_length=30)
    section = models.CharField(max_length=20, choices=Section.choices, default=Section.DISCOVER)
    rank = models.PositiveIntegerField(help_text="1 = best, per user, engine and section.")
    anime = models.ForeignKey("catalog.Anime", on_delete=models.CASCADE, related_name="+")
    # The engine's own ranking score; None for a plan-to-watch title it did not rank.
    score = models.FloatField(null=True, blank=True)
    # The item-KNN estimate of the member's score (1-10) and the taste model's P(like), where
    # those models exist: what the card shows as "predicted 8.4" and "92% match".
    predicted_score = models.FloatField(null=True, blank=True)
    match = models.FloatField(null=True, blank=True)
    franchise_size = models.PositiveSmallIntegerField(default=1)
    # The engine ranked a later entry of this franchise; this card is where it starts.
    entry_point = models.BooleanField(default=False)
    # [{"kind": "liked" | "taste" | "community" | "popular", ...}], strongest first; the words
    # are written at read time (recommender.personal.reasons): wording changes need no rerun.
    reasons = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "engine", "section", "anime"], name="uniq_user_rec_per_engine"
            )
        ]
        indexes = [models.Index(fields=["user", "engine", "section", "rank"])]

    def __str__(self) -> str:
        return f"{self.user_id} · {self.engine} #{self.rank}: {self.anime_id}"

    @property
    def estimate_is_own(self) -> bool:
        """Whether ``predicted_score`` is this card's own engine's estimate (the registry's
        score predictor) rather than a second opinion on another engine's pick."""
        return self.engine == score_predictor()


class RecommendationRefresh(runs.RunRow):
    """Each member's recommendation refresh: idle/queued -> running -> done | failed.

    One row per member, reused by every refresh; claim, heartbeat, finish and the reaper
    follow :mod:`animender.runs` (the claim is this row plus ``started_at``, so a slow
    refresh never overwrites a newer one). Debounced on this row: a request while one is
    queued adds nothing; a request while one runs sets ``rerun``, and the running refresh
    queues one more when it finishes. ``attempts`` counts the workers that claimed the
    current request and starts again at 0 when a new request queues the row.
    """

    class State(models.TextChoices):
        IDLE = "idle", "Idle"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recommendation_refresh"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.IDLE)
    rerun = models.BooleanField(default=False)
    trigger = models.CharField(max_length=20, blank=True, default="", help_text="What asked.")
    runs = models.PositiveIntegerField(default=0, help_text="Refreshes completed.")
    # {engine: {"version": ..., "discover": n, "plan_to_watch": n}} of the stored rows;
    # {engine: {"error": ...}} for an engine that failed while the others stored cards.
    engines = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recommendation refresh of {self.user_id} ({self.state})"

    @property
    def is_pending(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)
