"""Training global engines on community data, and serving their recommendations.

``recommender.ml`` holds the models (no Django); this module builds their input from the
database, records each :class:`TrainingRun`, publishes versioned artifacts and answers
top-N requests for any list of titles, a new sign-up's included, without refitting.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
import traceback
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import Anime

from .ml import artifacts
from .ml.data import UNSCORED, Ratings, ratings_from_frame
from .ml.registry import ENGINES
from .models import TrainingRun
from .selectors import community_interactions_arrays

log = logging.getLogger(__name__)


# Extra candidates ranked beyond n, so hidden (adult) titles can be dropped afterwards.
ADULT_MARGIN = 200


class NoModelError(RuntimeError):
    """The engine has no trained version yet."""


class UnknownEngineError(ValueError):
    pass


def _engine_spec(engine: str):
    try:
        return ENGINES[engine]
    except KeyError:
        raise UnknownEngineError(
            f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}"
        ) from None


def interactions_frame() -> pd.DataFrame:
    """All training interactions as ``user_id, anime_id, rating`` (community data), with
    compact dtypes (int32, int32, int8).

    Platform members' own lists join here once they exist (accounts issue).
    """
    community = community_interactions_arrays()
    return pd.DataFrame(
        {"user_id": community.users, "anime_id": community.anime, "rating": community.scores},
        copy=False,
    )


def _training_matrix(ratings: Ratings, kind: str) -> tuple[Ratings, sp.csr_matrix]:
    if kind == "explicit":
        ratings = ratings.explicit()
        return ratings, ratings.matrix("score")
    return ratings, ratings.matrix("binary")


def _versions() -> dict[str, str]:
    names = ["numpy", "scipy", "torch", "scikit-learn"]
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def training_run_create(
    *, engine: str, requested_by=None, trigger: str = "manual", params: dict | None = None
) -> TrainingRun:
    _engine_spec(engine)
    return TrainingRun.objects.create(
        engine=engine, requested_by=requested_by, trigger=trigger, params=params or {}
    )


def training_run_enqueue(
    *, engine: str, requested_by=None, trigger: str = "manual", params: dict | None = None
) -> TrainingRun:
    """Record a queued run and start it after commit (a worker, or in-process when eager)."""
    from .tasks import train_engine_task

    run = training_run_create(
        engine=engine, requested_by=requested_by, trigger=trigger, params=params
    )
    transaction.on_commit(lambda: train_engine_task.delay(run.pk))
    return run


def training_run_execute(*, run_id: int) -> TrainingRun:
    """Fit the run's engine on the current data and publish it as the serving version."""
    run = TrainingRun.objects.get(pk=run_id)
    spec = _engine_spec(run.engine)
    run.state, run.started_at, run.error = TrainingRun.State.RUNNING, timezone.now(), ""
    run.save(update_fields=["state", "started_at", "error"])
    try:
        frame = interactions_frame()
        if frame.empty:
            raise ValueError(
                "no training data: import community ratings first (manage.py import_ratings)"
            )
        ratings, matrix = _training_matrix(ratings_from_frame(frame), spec.matrix)
        params = {
            **spec.defaults,
            **settings.RECOMMENDER_ENGINE_PARAMS.get(run.engine, {}),
            **run.params,
        }
        started = time.perf_counter()
        model = spec.factory(**params).fit(matrix)
        fit_seconds = time.perf_counter() - started
        version = f"{timezone.now():%Y%m%dT%H%M%S}-run{run.pk}"
        metrics = {
            "fit_seconds": round(fit_seconds, 3),
            "users": int(ratings.n_users),
            "items": int(ratings.n_items),
            "interactions": int(matrix.nnz),
        }
        artifacts.publish(
            settings.MODEL_DIR,
            run.engine,
            version,
            ratings.item_ids,
            {"engine": run.engine, "params": params, "metrics": metrics, "libraries": _versions()},
            lambda directory: spec.saver(model, directory),
        )
    except Exception as exc:
        run.state, run.error = TrainingRun.State.FAILED, f"{type(exc).__name__}: {exc}"
        run.finished_at = timezone.now()
        run.save(update_fields=["state", "error", "finished_at"])
        log.error("training run %s failed:\n%s", run.pk, traceback.format_exc())
        return run
    run.state, run.version, run.metrics = TrainingRun.State.DONE, version, metrics
    run.finished_at = timezone.now()
    run.save(update_fields=["state", "version", "metrics", "finished_at"])
    return run


@dataclass
class LoadedModel:
    engine: str
    version: str
    model: object
    item_ids: np.ndarray
    index_of: dict[int, int]
    meta: dict


_cache: dict[str, LoadedModel] = {}
_cache_lock = threading.Lock()


def model_load(*, engine: str) -> LoadedModel:
    """The serving version of ``engine``, loaded once per process and reloaded on a swap."""
    spec = _engine_spec(engine)
    version = artifacts.current_version(settings.MODEL_DIR, engine)
    if version is None:
        raise NoModelError(f"{engine} has not been trained yet")
    cached = _cache.get(engine)
    if cached and cached.version == version:
        return cached
    with _cache_lock:
        cached = _cache.get(engine)
        if cached and cached.version == version:
            return cached
        path, item_ids, meta = artifacts.read_version(settings.MODEL_DIR, engine, version)
        loaded = LoadedModel(
            engine,
            version,
            spec.loader(path),
            item_ids,
            {int(m): i for i, m in enumerate(item_ids)},
            meta,
        )
        _cache[engine] = loaded
        return loaded


@dataclass
class Recommendation:
    anime: Anime
    score: float


@dataclass
class RecommendationResult:
    engine: str
    version: str
    items: list[Recommendation]
    used_entries: int
    ignored_entries: int


def recommendations_for_entries(
    *, engine: str, entries: list[tuple[int, int]], n: int = 10
) -> RecommendationResult:
    """Top-``n`` titles for a list of ``(mal_id, score)`` (score -1 or 0 = watched, unscored).

    Works for anyone, including people the model never saw: the list is turned into one
    row of the model's item space and scored in one pass. Titles on the list are never
    recommended; adult titles only when the site shows them.
    """
    loaded = model_load(engine=engine)
    spec = _engine_spec(engine)
    listed = {int(m) for m, _ in entries}
    cols, vals = [], []
    for mal_id, score in entries:
        idx = loaded.index_of.get(int(mal_id))
        if idx is None:
            continue
        scored = score not in (UNSCORED, 0, None)
        if spec.matrix == "explicit" and not scored:
            continue  # the model learns from scores only; still excluded below
        cols.append(idx)
        vals.append(float(score) if spec.matrix == "explicit" else 1.0)
    row = sp.csr_matrix(
        (
            np.asarray(vals, dtype=np.float32),
            (np.zeros(len(cols), dtype=np.int64), np.asarray(cols, dtype=np.int64)),
        ),
        shape=(1, len(loaded.item_ids)),
    )
    row.sum_duplicates()
    # Rank more than n: listed-but-unscored and hidden titles are dropped after ranking,
    # and one query over the candidates fetches the rows that may be shown.
    want = min(len(loaded.item_ids), n + len(listed) + ADULT_MARGIN)
    idx, scores = loaded.model.recommend(row, n=want)
    candidates = [
        (int(loaded.item_ids[i]), float(s))
        for i, s in zip(idx[0], scores[0], strict=True)
        if np.isfinite(s) and int(loaded.item_ids[i]) not in listed
    ]
    visible = Anime.objects.filter(mal_id__in=[m for m, _ in candidates])
    if not settings.SHOW_ADULT_CONTENT:
        visible = visible.filter(is_adult=False)
    anime = visible.in_bulk()
    picked = [(m, s) for m, s in candidates if m in anime][:n]
    items = [Recommendation(anime[m], s) for m, s in picked]
    return RecommendationResult(
        engine,
        loaded.version,
        items,
        used_entries=len(cols),
        ignored_entries=len(entries) - len(cols),
    )
