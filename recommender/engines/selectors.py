"""Reads of the recommender: engine status, training runs, and serving top-N for any list.

Serving turns a watched list into one row of a model's item space and ranks the whole
catalog in one pass, so anyone (a new sign-up, an anonymous API caller) is served
without refitting. Titles the catalog does not show (hidden, or removed since the
training) are masked inside that ranking, so a request for ``n`` titles gets ``n``
whenever the catalog has them; a model's titles are matched to the catalog by MAL id,
never by position, so a catalog that changed since the training serves the titles both
know.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from django.conf import settings
from django.db.models import QuerySet

from animender.score_rules import preference_rule
from catalog.franchises import franchise_collapse, franchise_index
from catalog.models import Anime
from catalog.selectors import anime_visible
from recommender.ml import artifacts
from recommender.ml.preferences import UNSCORED
from recommender.ml.registry import ENGINES, EngineSpec
from recommender.models import TrainingRun


class NoModelError(RuntimeError):
    """The engine has no trained version yet."""


class UnknownEngineError(ValueError):
    pass


class RetrainPendingError(NoModelError):
    """The served version cannot answer over the current catalog (it shares no title the
    catalog shows, or its item index does not fit its model): only a retrain helps, and
    the nightly one is scheduled."""


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
# engine -> (stamp, why) of a version that cannot be served.
_unservable: dict[str, tuple[tuple, str]] = {}
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
        unservable = _unservable.get(engine)
        if unservable and unservable[0] == stamp:
            raise RetrainPendingError(unservable[1])  # not loaded again per request
        path, item_ids, meta = artifacts.read_version(settings.MODEL_DIR, engine, version)
        model = spec.loader(path)
        size = getattr(model, "n_items", len(item_ids))
        if size != len(item_ids):
            # Item indices would name the wrong titles: never serve such a pair.
            message = (
                f"{engine} {version} holds {size} titles but its item index {len(item_ids)}; "
                "a retrain is pending"
            )
            _unservable[engine] = (stamp, message)
            raise RetrainPendingError(message)
        loaded = LoadedModel(
            engine,
            version,
            model,
            item_ids,
            {int(m): i for i, m in enumerate(item_ids)},
            meta,
            stamp,
        )
        _cache[engine] = loaded
        return loaded


# (engine, show_adult) -> (franchise index, loaded model, unshown item indices).
_unshown_cache: dict[tuple[str, bool], tuple] = {}


def model_unshown_rows(loaded: LoadedModel, *, show_adult: bool | None = None) -> np.ndarray:
    """Item indices of ``loaded`` whose titles the catalog does not show: removed since the
    training, or hidden. A model's item space is the catalog it was trained on, not the one
    in the database now; rankings leave these out before they are cut.

    Read from the franchise index (every shown title; rebuilt every few minutes) and kept
    until the index or the model changes: a request then pays no catalog query, and the
    picks are checked against the rows themselves anyway (:func:`_pick`).
    :class:`RetrainPendingError` when no title of the model is shown at all."""
    if show_adult is None:
        show_adult = settings.SHOW_ADULT_CONTENT
    index = franchise_index(show_adult=show_adult)
    cached = _unshown_cache.get((loaded.engine, show_adult))
    if cached and cached[0] is index and cached[1] is loaded:
        unshown = cached[2]
    else:
        shown = np.fromiter(index.media_type, dtype=np.int64, count=len(index.media_type))
        unshown = np.flatnonzero(~np.isin(loaded.item_ids, shown))
        _unshown_cache[(loaded.engine, show_adult)] = (index, loaded, unshown)
    if len(unshown) == len(loaded.item_ids):
        raise RetrainPendingError(
            f"{loaded.engine} {loaded.version} knows none of the titles the catalog shows; "
            "a retrain is pending"
        )
    return unshown


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
    ok = idx[0] >= 0  # -1: fewer titles left than asked for
    out[idx[0][ok]] = scores[0][ok]
    out[~np.isfinite(out)] = np.nan
    return out


def _ranked_scores(loaded: LoadedModel, row: sp.csr_matrix, want: int, exclude: np.ndarray):
    """Scores of the ranker's ``want`` best titles (NaN elsewhere), and the ranking to
    explain the picked ones from. ``exclude``: item indices left out inside the ranking
    (titles the catalog does not show). A long list can leave fewer than ``want``
    titles: the ranking's -1 slots name none."""
    ranking = loaded.model.rank(row, n=want, exclude=exclude)
    idx, ranked = ranking.indices[0], ranking.scores[0]
    ok = idx >= 0
    scores = np.full(row.shape[1], np.nan)
    scores[idx[ok]] = ranked[ok]
    scores[~np.isfinite(scores)] = np.nan
    return scores, ranking


def _explain_picks(loaded: LoadedModel, ranking, items: list[Recommendation]) -> None:
    """Each picked card's component contributions and the listed titles that point most
    to it ("because you liked ..."), computed for the picks only."""
    position = {
        int(loaded.item_ids[i]): p for p, i in enumerate(ranking.indices[0].tolist()) if i >= 0
    }
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

    Dislikes (:func:`animender.score_rules.preference_rule`) count against a title's
    neighbours in every engine: explicit engines read the score itself (a low score is a
    negative residual), watch-list engines subtract the disliked titles' lift. Titles on
    the list are never recommended; hidden (adult) titles only when the site shows them.
    """
    loaded = model_load(engine=engine)
    spec = engine_spec(engine)
    n_items = len(loaded.item_ids)
    rule = preference_rule()
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
        elif scored and rule.is_dislike(score):
            disliked.append(idx)
        else:
            liked.append(idx)
    unshown = model_unshown_rows(loaded)
    listed = {int(m) for m, _ in entries}
    listed_rows = [loaded.index_of[m] for m in listed if m in loaded.index_of]

    def ranked(scores: np.ndarray) -> list[Recommendation]:
        # Listed titles and those the catalog does not show leave the ranking before it
        # is cut at n.
        scores[listed_rows] = np.nan
        scores[unshown] = np.nan
        order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
        order = order[: int(np.isfinite(scores).sum())]
        return _pick(loaded.item_ids, order, scores, n, listed=listed)

    if spec.matrix == "scored":
        # The ranker leaves listed and unshown titles out itself and explains only its
        # top: 4n covers the franchise cards that one card stands for, and a list whose
        # top collapses into fewer than n cards asks again, deeper.
        row = list_row(n_items, cols, vals)
        want = min(n_items, 4 * n + SPARE_CARDS)
        while True:
            scores, ranking = _ranked_scores(loaded, row, want, unshown)
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
