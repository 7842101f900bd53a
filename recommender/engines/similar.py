"""Reads for "similar titles": item neighbours from the served engines, one per franchise.

The item-KNN engine's neighbours (shrunk pearson_baseline on community ratings) answer
first; when that engine has no version yet, or does not know the title, the watch-list
network's ("people who watched this also watched", from a one-title list); with neither,
titles sharing the most genres stand in, so the section is never empty for a title with
genres.

Each engine ranks every title's neighbours once, when its model is saved
(:mod:`recommender.ml.neighbours`), so a title page memory-maps two small arrays and
reads one row: the model itself is never loaded into a web worker for this. A version
saved before those arrays existed names no neighbours here (the next engine, or genres,
answers) until the next training.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import Count, F

from catalog.franchises import FranchiseIndex, franchise_collapse, franchise_index
from catalog.models import Anime
from catalog.selectors import anime_visible
from recommender.ml import artifacts
from recommender.ml.neighbours import ITEMS_FILE, neighbours_open
from recommender.ml.registry import neighbour_engines

GENRES = "genres"
# Engines asked in this order (the registry's): the first that knows the title answers.
NEIGHBOUR_ENGINES = tuple(neighbour_engines())
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


@dataclass(frozen=True)
class _StoredNeighbours:
    """One version's neighbour arrays (memory-mapped) and its item index."""

    index_of: dict[int, int]
    item_ids: np.ndarray
    indices: np.ndarray  # (n_items, width) int32, -1 pads
    scores: np.ndarray  # (n_items, width) float32, NaN pads


# Keyed by the files' identity, not the version's name (a name can recur, e.g. another
# MODEL_DIR or a database restored to older run ids). A few entries: the versions being
# served plus the one a swap just replaced; an evicted map frees its pages.
@functools.lru_cache(maxsize=8)
def _neighbours_cached(folder: str, stamp: tuple) -> _StoredNeighbours | None:
    opened = neighbours_open(Path(folder))
    if opened is None:
        return None
    item_ids = np.load(Path(folder) / "items.npy", allow_pickle=False)
    indices, scores = opened
    if len(indices) != len(item_ids):
        return None  # rows would name the wrong titles: never serve such a pair
    return _StoredNeighbours({int(m): i for i, m in enumerate(item_ids)}, item_ids, indices, scores)


def _stored_neighbours(engine: str) -> tuple[str, _StoredNeighbours] | None:
    version = artifacts.current_version(settings.MODEL_DIR, engine)
    if version is None:
        return None
    folder = artifacts.engine_dir(settings.MODEL_DIR, engine) / version
    try:
        st = (folder / ITEMS_FILE).stat()
    except FileNotFoundError:
        return None  # not trained yet, or saved before neighbours were
    stored = _neighbours_cached(str(folder), (st.st_ino, st.st_mtime_ns, st.st_size))
    return None if stored is None else (version, stored)


def _engine_neighbours(
    mal_id: int, want: int, show_adult: bool
) -> tuple[str, str, list[tuple[int, float]]]:
    for engine in NEIGHBOUR_ENGINES:
        found = _stored_neighbours(engine)
        if found is None:
            continue
        version, stored = found
        idx = stored.index_of.get(mal_id)
        if idx is None:
            continue
        row, scores = np.asarray(stored.indices[idx]), np.asarray(stored.scores[idx])
        ok = row >= 0
        ranked = [
            (int(m), float(s))
            for m, s in zip(stored.item_ids[row[ok]], scores[ok], strict=True)
            if np.isfinite(s)
        ]
        # The catalog may have lost or hidden titles since the training: they leave
        # before the cut at ``want``, so they cannot crowd out the ones it shows.
        shown = set(
            anime_visible(show_adult=show_adult)
            .filter(mal_id__in=[m for m, _ in ranked])
            .values_list("mal_id", flat=True)
        )
        pairs = [(m, s) for m, s in ranked if m in shown][:want]
        if pairs:
            return engine, version, pairs
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
    source, version, ranked = _engine_neighbours(anime.mal_id, n * OVERFETCH, show_adult)
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
