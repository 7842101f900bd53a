"""Reads for "similar titles": item neighbours from the served engines, one per franchise.

The item-KNN engine stores each title's most similar titles (shrunk pearson_baseline on
community ratings), so a title page costs a slice of an array already in memory. When
that engine has no version yet, or does not know the title, the watch-list network
answers "people who watched this also watched" from a one-title list; with no model at
all, titles sharing the most genres stand in, so the section is never empty for a title
with genres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from django.db.models import Count, F

from catalog.franchises import FranchiseIndex, franchise_collapse, franchise_index
from catalog.models import Anime

from .services import NoModelError, model_load

GENRES = "genres"
# Engines asked in this order; the first that knows the title answers.
NEIGHBOUR_ENGINES = ("knn_baseline", "watchlist_nn")
# Neighbours fetched per requested title: many fall in the title's own franchise or in
# one other franchise and collapse into a single card.
OVERFETCH = 6
GENRE_CANDIDATES = 300


@dataclass
class SimilarTitle:
    anime: Anime
    similarity: float  # engine score; for "genres", the number of shared genres
    franchise_size: int
    replaced: bool  # the neighbour was a later entry; this is its franchise's entry point


@dataclass
class SimilarTitles:
    source: str  # engine name, or "genres" when no engine knows the title
    version: str
    items: list[SimilarTitle]
    franchise: list[Anime]  # the title's own franchise, where it starts first


def _engine_neighbours(mal_id: int, want: int) -> tuple[str, str, list[tuple[int, float]]]:
    for engine in NEIGHBOUR_ENGINES:
        try:
            loaded = model_load(engine=engine)
        except NoModelError:
            continue
        idx = loaded.index_of.get(mal_id)
        if idx is None:
            continue
        model = loaded.model
        if hasattr(model, "similar_items"):
            items, scores = model.similar_items(idx, n=want)
        else:
            row = sp.csr_matrix(([1.0], ([0], [idx])), shape=(1, len(loaded.item_ids)))
            top, top_scores = model.recommend(row, n=want)
            items, scores = top[0], top_scores[0]
        pairs = [
            (int(loaded.item_ids[i]), float(s))
            for i, s in zip(items, scores, strict=True)
            if np.isfinite(s)
        ]
        if pairs:
            return engine, loaded.version, pairs
    return GENRES, "", []


def _genre_neighbours(anime: Anime, exclude: set[int], show_adult: bool) -> list[tuple[int, float]]:
    genre_ids = [g.pk for g in anime.genres.all()]
    if not genre_ids:
        return []
    qs = Anime.objects.filter(genres__in=genre_ids).exclude(mal_id__in=exclude)
    if not show_adult:
        qs = qs.filter(is_adult=False)
    rows = (
        qs.values("mal_id")
        .annotate(shared=Count("genres"))
        .order_by("-shared", F("num_list_users").desc(nulls_last=True), "mal_id")
        .values_list("mal_id", "shared")[:GENRE_CANDIDATES]
    )
    return [(m, float(s)) for m, s in rows]


def _cards(
    ranked: list[tuple[int, float]], own: set[int], index: FranchiseIndex, n: int, show_adult: bool
) -> tuple[list[SimilarTitle], dict[int, Anime]]:
    cards = franchise_collapse(
        ((m, s) for m, s in ranked if m not in own), watched=(), exclude=own, index=index
    )
    # One query for the cards and the title's own franchise.
    visible = Anime.objects.filter(mal_id__in=[c.mal_id for c in cards] + list(own))
    if not show_adult:
        visible = visible.filter(is_adult=False)
    rows = visible.in_bulk()
    items = [
        SimilarTitle(rows[c.mal_id], c.score, c.franchise_size, c.replaced)
        for c in cards
        if c.mal_id in rows
    ][:n]
    return items, rows


def similar_titles_get(*, anime: Anime, n: int = 12, show_adult: bool) -> SimilarTitles:
    """Up to ``n`` titles like ``anime``, at most one per franchise and none of its own;
    a neighbour that is a sequel or film of another series shows as that series' start."""
    index: FranchiseIndex = franchise_index(show_adult=show_adult)
    own = set(index.members(anime.mal_id))
    source, version, ranked = _engine_neighbours(anime.mal_id, n * OVERFETCH)
    if not ranked:
        source, version = GENRES, ""
        ranked = _genre_neighbours(anime, own, show_adult)
    items, rows = _cards(ranked, own, index, n, show_adult)
    if not items and source != GENRES:
        # The engine's neighbours were all this franchise or hidden titles.
        source, version = GENRES, ""
        items, rows = _cards(_genre_neighbours(anime, own, show_adult), own, index, n, show_adult)
    franchise = [rows[m] for m in index.members(anime.mal_id) if m in rows]
    return SimilarTitles(
        source=source,
        version=version,
        items=items,
        franchise=franchise if len(franchise) > 1 else [],
    )
