"""Small display helpers for catalog templates."""

from __future__ import annotations

from django import template

register = template.Library()

# MAL codes whose plain title-casing reads wrong.
_LABELS = {"4_koma_manga": "4-koma manga", "web_manga": "Web manga", "web_novel": "Web novel"}


@register.filter
def code_label(value: str) -> str:
    """MAL enum code to words: ``light_novel`` -> ``Light novel``."""
    if not value:
        return ""
    return _LABELS.get(value, value.replace("_", " ").capitalize())


@register.filter
def episode_minutes(seconds: int | None) -> str:
    if not seconds:
        return ""
    minutes, rest = divmod(int(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min" if minutes else f"{rest} s"
