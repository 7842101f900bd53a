"""Community ratings the global models learn from, their training runs and model versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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


class Engine(models.TextChoices):
    KNN_BASELINE = "knn_baseline", "Item KNN with baseline"
    WATCHLIST_NN = "watchlist_nn", "Neural watch-list model"
    HYBRID = "hybrid", "Learned hybrid ranking"


class TrainingRun(models.Model):
    """One training of a global engine; pages and the API read progress from this row."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    engine = models.CharField(max_length=30, choices=Engine.choices)
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
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.engine} run #{self.pk} ({self.state})"
