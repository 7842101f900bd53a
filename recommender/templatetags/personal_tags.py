"""Template helpers of the member's recommendations page: reasons and scores in words."""

from __future__ import annotations

from django import template

from accounts.forms import SCORE_LABELS
from recommender.personal.reasons import reasons_text

register = template.Library()


@register.filter
def reason_lines(reasons: list[dict]) -> list[str]:
    """The stored reasons of a card as sentences, strongest first."""
    return reasons_text(reasons or [])


@register.filter
def percent(value: float | None) -> str:
    return "" if value is None else f"{round(100 * value)}%"


@register.simple_tag
def score_choices() -> list[tuple[int, str]]:
    return [(s, f"{s} · {SCORE_LABELS[s]}") for s in range(10, 0, -1)]


@register.filter
def as_popular_card(anime):
    """A popular title as an (unsaved) recommendation card, for members with no list yet."""
    from recommender.personal.selectors import popular_card

    return popular_card(anime, 0)
