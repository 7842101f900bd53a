"""Reads of the recommender: engine status, training runs, and serving top-N for any list.

Serving turns a watched list into one row of a model's item space and ranks the whole
catalog in one pass, so anyone (a new sign-up, an anonymous API caller) is served
without refitting. Hidden titles are masked inside that ranking, so a request for ``n``
titles gets ``n`` whenever the catalog has them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from django.conf import settings
from django.db.models import QuerySet

from catalog.franchises import franchise_collapse, franchise_index
from catalog.models import Anime
from catalog.selectors import anime_hidden_ids, anime_visible

from .ml import artifacts
from .ml.data import UNSCORED
from .ml.registry import ENGINES, EngineSpec
from .models import TrainingRun


class NoModelError(RuntimeError):
    """The engine has no trained version yet."""


class UnknownEngineError(ValueError):
    pass


def engine_spec(engine: str) -> EngineSpec:
    try:
        return ENGINES[engine]
    except KeyError:
        raise UnknownEngineError(
            f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}"
        ) from None


# -- status and runs -------------------------------------------------------------------


@dataclass
class EngineStatus:
    name: str
    label: str
    version: str | None
    last_run: TrainingRun | None


def engine_status_list() -> list[EngineStatus]:
    """Every registered engine with its serving version and its last finished run."""
    return [
        EngineStatus(
            name=name,
            label=spec.label or name,
            version=artifacts.current_version(settings.MODEL_DIR, name),
            last_run=TrainingRun.objects.filter(engine=name, state=TrainingRun.State.DONE).first(),
        )
        for name, spec in ENGINES.items()
    ]


def training_run_list(*, limit: int = 50) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.all()[:limit]


def training_run_get(*, run_id: int) -> TrainingRun | None:
    return TrainingRun.objects.filter(pk=run_id).first()


# -- serving ---------------------------------------------------------------------------


@dataclass
class LoadedModel:
    engine: str
    version: str
    model: object
    item_ids: np.ndarray
    index_of: dict[int, int]
    meta: dict
    # Which files these are: the version's folder under MODEL_DIR and its manifest's
    # inode and mtime (a version name can recur, e.g. after a restored database).
    stamp: tuple = ()


# Spare candidates past n, for titles hidden since the franchise index was cached.
SPARE_CARDS = 5

_cache: dict[str, LoadedModel] = {}
_cache_lock = threading.Lock()


def _version_stamp(engine: str, version: str) -> tuple:
    folder = artifacts.engine_dir(settings.MODEL_DIR, engine) / version
    try:
        st = (folder / "artifact.json").stat()
    except FileNotFoundError:
        return (str(folder),)
    return (str(folder), st.st_ino, st.st_mtime_ns)


def model_load(*, engine: str) -> LoadedModel:
    """The serving version of ``engine``, loaded once per process and reloaded on a swap.

    The cache holds what the files are, not only the version's name: a name can recur
    (another MODEL_DIR, a database restored to older run ids, a test rolled back), and
    a model trained elsewhere under the same name must not be served."""
    spec = engine_spec(engine)
    version = artifacts.current_version(settings.MODEL_DIR, engine)
    if version is None:
        raise NoModelError(f"{engine} has not been trained yet")
    stamp = _version_stamp(engine, version)
    cached = _cache.get(engine)
    if cached and cached.stamp == stamp:
        return cached
    with _cache_lock:
        cached = _cache.get(engine)
        if cached and cached.stamp == stamp:
            return cached
        path, item_ids, meta = artifacts.read_version(settings.MODEL_DIR, engine, version)
        loaded = LoadedModel(
            engine,
            version,
            spec.loader(path),
            item_ids,
            {int(m): i for i, m in enumerate(item_ids)},
            meta,
            stamp,
        )
        _cache[engine] = loaded
        return loaded


@dataclass
class Recommendation:
    anime: Anime
    score: float
    franchise_size: int = 1
    # True when the engine ranked a later entry and this is where its franchise starts.
    entry_point: bool = False
    # Hybrid only: the ranker's score split by component, and the MAL ids of the
    # listed titles that point most to this one ("because you liked ...").
    contributions: dict[str, float] | None = None
    because: list[int] | None = None


@dataclass
class RecommendationResult:
    engine: str
    version: str
    items: list[Recommendation]
    used_entries: int
    ignored_entries: int


def list_row(n_items: int, cols: list[int], vals: list[float]) -> sp.csr_matrix:
    return sp.csr_matrix(
        (
            np.asarray(vals, dtype=np.float32),
            (np.zeros(len(cols), dtype=np.int64), np.asarray(cols, dtype=np.int64)),
        ),
        shape=(1, n_items),
    )


def all_scores(model, row: sp.csr_matrix) -> np.ndarray:
    """Dense (n_items,) float64 scores of every title for one row; titles in the row and
    titles the model cannot score are NaN."""
    n_items = row.shape[1]
    idx, scores = model.recommend(row, n=n_items)
    out = np.full(n_items, np.nan)
    out[idx[0]] = scores[0]
    out[~np.isfinite(out)] = np.nan
    return out


def _ranked_scores(loaded: LoadedModel, row: sp.csr_matrix, want: int, exclude: list[int]):
    """Scores of the ranker's ``want`` best titles (NaN elsewhere), and the ranking to
    explain the picked ones from. ``exclude``: item indices left out inside the ranking
    (hidden titles)."""
    ranking = loaded.model.rank(row, n=want, exclude=exclude)
    scores = np.full(row.shape[1], np.nan)
    scores[ranking.indices[0]] = ranking.scores[0]
    scores[~np.isfinite(scores)] = np.nan
    return scores, ranking


def _explain_picks(loaded: LoadedModel, ranking, items: list[Recommendation]) -> None:
    """Each picked card's component contributions and the listed titles that point most
    to it ("because you liked ..."), computed for the picks only."""
    position = {int(loaded.item_ids[i]): p for p, i in enumerate(ranking.indices[0].tolist())}
    picked = [item for item in items if item.anime.mal_id in position]
    if not picked:
        return
    top = ranking.explain(0, [position[item.anime.mal_id] for item in picked])
    for k, item in enumerate(picked):
        item.contributions = dict(zip(top.groups, top.contributions[0, k].tolist(), strict=True))
        item.because = [int(loaded.item_ids[b]) for b in top.because[0, k] if b >= 0]


def signed_watch_scores(model, n_items: int, liked: list[int], disliked: list[int]):
    """Scores of a watch-list (binary) model where disliked titles count against.

    The model sees which titles were watched, not how they were liked. The lift that the
    disliked titles alone give each title over an empty list (its neighbours' lift) is
    subtracted from the liked list's scores, so a disliked title pushes its neighbours
    down instead of up.
    """
    with_liked = all_scores(model, list_row(n_items, liked, [1.0] * len(liked)))
    if not disliked:
        return with_liked
    prior = all_scores(model, list_row(n_items, [], []))
    lift = all_scores(model, list_row(n_items, disliked, [1.0] * len(disliked))) - prior
    return with_liked - np.nan_to_num(lift, nan=0.0)


def recommendations_for_entries(
    *, engine: str, entries: list[tuple[int, int | None]], n: int = 10
) -> RecommendationResult:
    """Top-``n`` titles for a list of ``(mal_id, score)``; score None = watched, no score.

    Scores at or below ``RECOMMENDER_DISLIKE_MAX_SCORE`` count against a title's
    neighbours in every engine: explicit engines read the score itself (a low score is a
    negative residual), watch-list engines subtract the disliked titles' lift. Titles on
    the list are never recommended; hidden (adult) titles only when the site shows them.
    """
    loaded = model_load(engine=engine)
    spec = engine_spec(engine)
    n_items = len(loaded.item_ids)
    dislike_max = settings.RECOMMENDER_DISLIKE_MAX_SCORE
    cols, vals, liked, disliked = [], [], [], []
    for mal_id, score in entries:
        idx = loaded.index_of.get(int(mal_id))
        if idx is None:
            continue
        scored = score is not None and score >= 1
        if spec.matrix == "scored":
            # The hybrid reads scores itself (low ones count against): -1 = no score.
            cols.append(idx)
            vals.append(float(score) if scored else float(UNSCORED))
        elif spec.matrix == "explicit":
            if not scored:
                continue  # the model learns from scores only; still excluded below
            cols.append(idx)
            vals.append(float(score))
        elif scored and score <= dislike_max:
            disliked.append(idx)
        else:
            liked.append(idx)
    hidden = [loaded.index_of[m] for m in anime_hidden_ids() if m in loaded.index_of]
    listed = {int(m) for m, _ in entries}
    listed_rows = [loaded.index_of[m] for m in listed if m in loaded.index_of]

    def ranked(scores: np.ndarray) -> list[Recommendation]:
        # Listed and hidden titles leave the ranking before it is cut at n.
        scores[listed_rows] = np.nan
        scores[hidden] = np.nan
        order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
        order = order[: int(np.isfinite(scores).sum())]
        return _pick(loaded.item_ids, order, scores, n, listed=listed)

    if spec.matrix == "scored":
        # The ranker leaves listed and hidden titles out itself and explains only its
        # top: 4n covers the franchise cards that one card stands for, and a list whose
        # top collapses into fewer than n cards asks again, deeper.
        row = list_row(n_items, cols, vals)
        want = min(n_items, 4 * n + SPARE_CARDS)
        while True:
            scores, ranking = _ranked_scores(loaded, row, want, hidden)
            items = ranked(scores)
            if len(items) >= n or want >= n_items:
                break
            want = min(n_items, want * 4)
        _explain_picks(loaded, ranking, items)
    elif spec.matrix == "explicit":
        items = ranked(all_scores(loaded.model, list_row(n_items, cols, vals)))
    else:
        items = ranked(signed_watch_scores(loaded.model, n_items, liked, disliked))
    used = len(cols) + len(liked) + len(disliked)
    return RecommendationResult(
        engine, loaded.version, items, used_entries=used, ignored_entries=len(entries) - used
    )


def _pick(item_ids: np.ndarray, order: np.ndarray, scores: np.ndarray, n: int, *, listed):
    """The first ``n`` franchise cards of the ranking that the catalog shows.

    One card per franchise, and the entry point of a series the list has not started
    instead of its sequels, films or specials. Candidates are taken a slice at a time: a
    model may know titles the catalog no longer holds, and a franchise may fill many ranks.
    """
    index = franchise_index(show_adult=settings.SHOW_ADULT_CONTENT)
    ranked = [
        (m, s)
        for m, s in zip(item_ids[order].tolist(), scores[order].tolist(), strict=True)
        if m not in index.hidden
    ]
    items: list[Recommendation] = []
    for limit in (n + SPARE_CARDS, None):
        cards = franchise_collapse(ranked, watched=listed, index=index, limit=limit)
        rows = anime_visible().in_bulk([c.mal_id for c in cards])
        items = [
            Recommendation(rows[c.mal_id], c.score, c.franchise_size, c.replaced)
            for c in cards
            if c.mal_id in rows
        ][:n]
        if len(items) == n or len(cards) < (limit or 0):
            break  # enough, or nothing more to collapse; else many were hidden just now
    return items
