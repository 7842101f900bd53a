"""Each member's profile and personal anime list (the platform's own ratings)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
