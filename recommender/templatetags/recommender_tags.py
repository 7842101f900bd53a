"""Template tags of the recommender: the "similar titles" block of a title page."""

from __future__ import annotations

from django import template
from django.conf import settings

from catalog.models import Anime
from recommender.similar import similar_titles_get

register = template.Library()

SIMILAR_ON_PAGE = 12
FRANCHISE_ON_PAGE = 12


@register.inclusion_tag("catalog/_similar.html")
def similar_titles(anime: Anime) -> dict:
    """Renders the title's franchise and its similar titles (anonymous visitors too)."""
    result = similar_titles_get(
        anime=anime, n=SIMILAR_ON_PAGE, show_adult=settings.SHOW_ADULT_CONTENT
    )
    franchise = result.franchise
    return {
        "anime": anime,
        "similar": result,
        "franchise": franchise[:FRANCHISE_ON_PAGE],
        "franchise_more": max(len(franchise) - FRANCHISE_ON_PAGE, 0),
        "franchise_size": len(franchise),
        "entry_point": franchise[0] if franchise else None,
        "engine_label": {
            "knn_baseline": "people who rated this title alike (item KNN)",
            "watchlist_nn": "people who watched this title (watch-list network)",
        }.get(result.source, ""),
    }
