"""Answers members give in the labeling queue: would they like a title or not."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
