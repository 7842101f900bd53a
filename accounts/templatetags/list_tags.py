"""Template helpers for the list controls shown on catalog pages."""

from __future__ import annotations

from types import SimpleNamespace

from django import template

from accounts.forms import SCORE_LABELS
from accounts.models import ListEntry, Profile
from accounts.selectors import list_entry_states

register = template.Library()

_CACHE_ATTR = "_animender_list_states"


def _load(request, mal_ids) -> dict:
    """The request's cache of list states, with ``mal_ids`` read (one query for those not
    read yet). Titles looked up and not listed are cached as None."""
    states = getattr(request, _CACHE_ATTR, None)
    if states is None:
        states = {}
        setattr(request, _CACHE_ATTR, states)
    todo = {m for m in mal_ids if m not in states}
    if todo:
        found = list_entry_states(user=request.user, mal_ids=todo)
        states.update({m: found.get(m) for m in todo})
    return states


@register.simple_tag(takes_context=True)
def list_entries_preload(context, *collections) -> str:
    """Reads the member's entries for every title of ``collections`` (the page's cards) in
    one query, so the cards that follow cost none. Only those rows: a member with a list of
    thousands still reads a page's worth."""
    request = context.get("request")
    if request is not None and getattr(request.user, "is_authenticated", False):
        _load(request, [a.mal_id for c in collections if c for a in c])
    return ""


@register.simple_tag(takes_context=True)
def list_entry_of(context, anime):
    """The member's entry for ``anime`` (or None): from ``list_entries_preload`` when the
    page preloaded its cards, else one query for this title."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    state = _load(request, [anime.mal_id])[anime.mal_id]
    if state is None:
        return None
    status, score, episodes, not_interested = state
    return SimpleNamespace(
        status=status, score=score, episodes_watched=episodes, not_interested=not_interested
    )


@register.simple_tag
def list_status_choices():
    return ListEntry.Status.choices


@register.simple_tag
def list_score_choices():
    return [(s, f"{s} · {SCORE_LABELS[s]}") for s in range(10, 0, -1)]


@register.filter
def title_in(anime, language: str) -> str:
    """The title in the member's preferred language, falling back to MAL's main title."""
    if language == Profile.TitleLanguage.ENGLISH and anime.title_english:
        return anime.title_english
    if language == Profile.TitleLanguage.JAPANESE and anime.title_japanese:
        return anime.title_japanese
    return anime.title


@register.filter
def status_label(value: str) -> str:
    return dict(ListEntry.Status.choices).get(value, "")


@register.filter
def lookup(mapping: dict, key):
    return mapping.get(key, "")
