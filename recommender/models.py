"""Community ratings the global models learn from, their training runs and model versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from animender import runs

from .ml.registry import engine_choices


class CommunityRating(models.Model):
    """One row of an imported community data set (not a login account).

    ``member`` is the data set's own user id; ``score`` is 1-10, or -1 for completed but
    not scored (an implicit positive).
    """

    UNSCORED = -1

    member = models.PositiveIntegerField()
    anime = models.ForeignKey(
        "catalog.Anime", on_delete=models.CASCADE, related_name="community_ratings", db_index=False
    )
    score = models.SmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "anime"], name="uniq_member_anime"),
            models.CheckConstraint(
                condition=models.Q(score=-1) | models.Q(score__gte=1, score__lte=10),
                name="community_score_range",
            ),
        ]
        indexes = [models.Index(fields=["anime"])]

    def __str__(self) -> str:
        return f"member {self.member} · {self.anime_id}: {self.score}"


class TrainingRun(models.Model):
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
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

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


class EvaluationRun(models.Model):
    """One offline evaluation of every engine and baseline; the Engines page shows the
    latest finished one and follows the progress of a running one."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

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
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

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
