"""Template tags of the recommender: the "similar titles" block of a title page."""

from __future__ import annotations

from django import template

from catalog.models import Anime
from catalog.selectors import adult_visible
from recommender.engines.similar import similar_titles_get
from recommender.ml.registry import ENGINES

register = template.Library()

SIMILAR_ON_PAGE = 12
FRANCHISE_ON_PAGE = 12


@register.inclusion_tag("catalog/_similar.html", takes_context=True)
def similar_titles(context, anime: Anime) -> dict:
    """Renders the title's franchise and its similar titles (anonymous visitors too)."""
    viewer = getattr(context.get("request"), "user", None)
    result = similar_titles_get(
        anime=anime, n=SIMILAR_ON_PAGE, show_adult=adult_visible(user=viewer)
    )
    franchise = result.franchise
    return {
        "anime": anime,
        "similar": result,
        "franchise": franchise[:FRANCHISE_ON_PAGE],
        "franchise_more": max(len(franchise) - FRANCHISE_ON_PAGE, 0),
        "franchise_size": len(franchise),
        "entry_point": franchise[0] if franchise else None,
        "engine_label": ENGINES[result.source].neighbours_by if result.source in ENGINES else "",
    }
