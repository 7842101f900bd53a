"""Answers members give in the labeling queue: would they like a title or not."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import models

from animender.runs import RunRow


class Label(models.Model):
    """One member's answer about one title; skips are kept so the queue moves on."""

    class Answer(models.TextChoices):
        LIKE = "like", "I would like it"
        DISLIKE = "dislike", "I wouldn't"
        SKIP = "skip", "Skip"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="labels"
    )
    anime = models.ForeignKey("catalog.Anime", on_delete=models.CASCADE, related_name="+")
    answer = models.CharField(max_length=10, choices=Answer.choices)
    # Why the queue showed it (cold_start, uncertainty, exploration), for the learning curve.
    reason = models.CharField(max_length=20, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "anime"], name="uniq_label_user_anime"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} · {self.anime_id}: {self.answer}"


class TasteTrainingRun(RunRow):
    """One training of one member's taste model; the page and API read progress from it.

    The database keeps at most one queued and one running run per member (partial unique
    constraints), so two workers never train the same member at once, whatever the broker
    redelivers. Claim, heartbeat, finish and reaping follow :mod:`animender.runs`.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        # A newer request replaced this one before a worker picked it up.
        SUPERSEDED = "superseded", "Superseded"

    class Trigger(models.TextChoices):
        LABELS = "labels", "New labels"
        MANUAL = "manual", "On demand"
        LIST = "list", "List import"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="taste_runs"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    # Highest Label id when requested: labels above it count towards the next retrain.
    last_label_id = models.BigIntegerField(default=0)
    n_labels = models.PositiveIntegerField(default=0, help_text="Training examples used.")
    n_pos = models.PositiveIntegerField(default=0)
    n_neg = models.PositiveIntegerField(default=0)
    n_from_list = models.PositiveIntegerField(default=0, help_text="Examples taken from the list.")
    # average_precision, roc_auc, base_rate (cross-validated), pr_curve, explain
    metrics = models.JSONField(default=dict, blank=True)
    durations = models.JSONField(default=dict, blank=True, help_text="Seconds per stage.")
    version = models.CharField(max_length=40, blank=True, default="")
    catalog_version = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(state="queued"),
                name="uniq_taste_run_queued_per_user",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(state="running"),
                name="uniq_taste_run_running_per_user",
            ),
        ]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"taste run #{self.pk} of {self.user_id} ({self.state})"

    @property
    def average_precision(self) -> float | None:
        return self.metrics.get("average_precision")

    @property
    def seconds_taken(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class TasteScores(models.Model):
    """P(like) of every catalog title under one member's current model version.

    Written once per model version as packed arrays (about 160 kB for the full catalog),
    so the queue and recommendations read one row instead of loading a model. The ask
    order is the model's most teaching questions, chosen when it was trained (see
    ``recommender.ml.active_learning.variance_order``).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="taste_scores"
    )
    run = models.ForeignKey(TasteTrainingRun, on_delete=models.CASCADE, related_name="+")
    version = models.CharField(max_length=40)
    mal_ids = models.BinaryField(help_text="int32 little-endian, catalog row order")
    proba = models.BinaryField(help_text="float32 little-endian, aligned with mal_ids")
    ask_order = models.BinaryField(
        default=b"",
        help_text="int32 little-endian MAL ids: the titles the queue asks about next, in order",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"taste scores of {self.user_id} ({self.version})"

    def mal_id_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.mal_ids), dtype="<i4").astype(np.int64)

    def proba_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.proba), dtype="<f4")

    def ask_order_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.ask_order), dtype="<i4").astype(np.int64)
