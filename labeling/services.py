"""Writes for labeling: a member's answers about titles (the taste model's runs live in
:mod:`labeling.taste.runs`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from animender import hooks
from animender.hooks import hook_fire
from catalog.models import Anime
from catalog.selectors import adult_visible
from labeling.models import Label
from labeling.taste.runs import taste_training_request_if_due

# --- labels -------------------------------------------------------------------------------


def label_save(*, user, mal_id: int, answer: str, reason: str = "") -> tuple[Label, bool]:
    """Record (or change) ``user``'s answer about a title; returns ``(label, created)``.

    Queues a retrain when enough new like/dislike answers have arrived since the last one.
    """
    if answer not in Label.Answer.values:
        raise ValidationError({"answer": [f"choose one of {', '.join(Label.Answer.values)}"]})
    visible = Anime.objects.filter(pk=mal_id)
    if not adult_visible(user=user):
        visible = visible.filter(is_adult=False)
    if not visible.exists():
        raise ValidationError({"mal_id": [f"no title with MAL id {mal_id}"]})
    label, created = Label.objects.update_or_create(
        user=user, anime_id=mal_id, defaults={"answer": answer, "reason": reason[:20]}
    )
    if answer != Label.Answer.SKIP:
        taste_training_request_if_due(user=user)
    _recommendations_refresh(user.pk, "label")
    return label, created


def label_delete(*, label: Label) -> None:
    label.delete()
    _recommendations_refresh(label.user_id, "label")


def _recommendations_refresh(user_id: int, trigger: str) -> None:
    """A label changes what the member's recommendations exclude and learn from."""
    hook_fire(hooks.MEMBER_INPUTS_CHANGED, user_id=user_id, trigger=trigger)
