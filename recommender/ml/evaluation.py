"""Offline evaluation: the two protocols and the full engine comparison (metrics in
:mod:`recommender.ml.metrics`).

Rating prediction: train on 80 % of the explicit (1-10) rows (``split_explicit``), report
RMSE/MAE on the other 20 %.

Top-N: ``split_topn`` holds out 20 % of each user's positives (score >= 8 or -1).
Implicit models train on the binary matrix of every remaining row (``-1`` included);
explicit models on the remaining explicit rows; ``scored`` models (the hybrid) on every
remaining row with its value: 1-10, or -1 for completed without a score. Every title not
in the user's training rows is a candidate; relevance is binary (held out or not).

Everything here is plain Python so ``bench/offline_eval.py`` and a Django management
command can share it.
"""

from __future__ import annotations

import inspect
import multiprocessing as mp
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Ratings, load_ratings, split_explicit, split_topn
from .metrics import mae, rmse, topn_metrics

# -- protocols -----------------------------------------------------------------------


def _accepts_users(model: object) -> bool:
    """Whether ``model.recommend`` takes the optional ``users`` (training-row) argument."""
    return "users" in inspect.signature(model.recommend).parameters


def _input_matrix(train: Ratings, kind: str):
    """What a model of ``kind`` learns from and is asked with (see the module docstring)."""
    if kind == "implicit":
        return train.matrix("binary")
    if kind == "explicit":
        return train.explicit().matrix("score")
    if kind == "scored":
        return train.matrix("score")
    raise ValueError(f"unknown kind {kind!r}")


def recommend_topn(
    model, train: Ratings, users: np.ndarray, n: int, kind: str = "implicit", batch_size: int = 512
) -> tuple[np.ndarray, float]:
    """Top-``n`` for training users ``users`` that never repeats a training title.

    ``kind='implicit'``: rows of the binary matrix of all training rows go in.
    ``kind='explicit'``: rows of the explicit-score matrix go in; the model cannot see
    the user's ``-1`` titles, so we ask for more and drop those afterwards.
    ``kind='scored'``: rows with every training title and its score (-1 = unscored).
    Returns ((len(users), n) int64 item indices, seconds spent in ``recommend``).
    """
    seen = train.matrix("binary")
    rows_in = _input_matrix(train, kind)
    pass_users = _accepts_users(model)
    out = np.empty((len(users), n), dtype=np.int64)
    spent = 0.0
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        x = rows_in[batch]
        extra = int(np.max(np.diff(seen[batch].indptr) - np.diff(x.indptr), initial=0))
        kwargs = {"users": batch} if pass_users else {}
        t = time.perf_counter()
        idx, _ = model.recommend(x, n + extra, **kwargs)
        spent += time.perf_counter() - t
        for j, u in enumerate(batch):
            keep = idx[j][~np.isin(idx[j], seen.indices[seen.indptr[u] : seen.indptr[u + 1]])]
            if len(keep) < n:
                raise AssertionError(f"{type(model).__name__} returned a seen or short list")
            out[start + j] = keep[:n]
    return out, spent


def evaluate_topn(
    model,
    train: Ratings,
    test: dict[int, np.ndarray],
    ks: Sequence[int] = (10, 20),
    kind: str = "implicit",
    users: np.ndarray | None = None,
    fit: bool = True,
) -> dict[str, float]:
    """Fit ``model`` on ``train`` (per ``kind``) and score the held-out ``test`` titles.

    ``users``: evaluate only these test users (e.g. a sample for slow models); default all.
    Returns recall@k, ndcg@k for each k, coverage@10, ms_per_user, fit_s, n_users.
    """
    fit_s = 0.0
    if fit:
        x = _input_matrix(train, kind)
        t = time.perf_counter()
        model.fit(x)
        fit_s = time.perf_counter() - t
    users = np.array(sorted(test) if users is None else users, dtype=np.int64)
    recs, spent = recommend_topn(model, train, users, max(ks), kind)
    out = topn_metrics(recs, [test[int(u)] for u in users], train.n_items, ks)
    out.update(ms_per_user=1000.0 * spent / len(users), fit_s=fit_s, n_users=len(users))
    return out


def evaluate_rating(model, train: Ratings, test: Ratings, fit: bool = True) -> dict[str, float]:
    """Fit on the explicit ``train`` rows, predict ``test``; RMSE, MAE and timings.

    ``model`` needs ``fit(csr)`` and ``predict(users, items) -> (n,) estimates``.
    """
    fit_s = 0.0
    if fit:
        t = time.perf_counter()
        model.fit(train.explicit().matrix("score"))
        fit_s = time.perf_counter() - t
    t = time.perf_counter()
    pred = model.predict(test.users, test.items)
    predict_s = time.perf_counter() - t
    return {
        "rmse": rmse(pred, test.scores),
        "mae": mae(pred, test.scores),
        "fit_s": fit_s,
        "predict_s": predict_s,
        "n_test": len(test.scores),
    }


# -- the engine comparison -------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """How to build one engine and which protocols it takes part in."""

    name: str
    factory: Callable[[], object]
    kind: str  # 'implicit' (binary), 'explicit' (scores 1-10) or 'scored' (1-10 and -1)
    rating: bool = False  # has predict(): takes part in rating prediction
    topn_sample: bool = False  # slow top-N: evaluated on the fixed user sample only


class EngineUnavailable(RuntimeError):
    """An engine's module is missing (e.g. not written yet); the harness skips it."""


def _knn_baseline_factory() -> object:
    try:
        from .knn_baseline import KNNBaseline
    except ImportError as exc:
        raise EngineUnavailable(f"recommender.ml.knn_baseline not importable: {exc}") from exc
    return KNNBaseline(k=40, shrinkage=100)


def engines(quick: bool = False, seed: int = 0) -> dict[str, Engine]:
    """Every engine of the comparison, keyed by the names used in reports."""
    from . import baselines as b

    def nn(**extra):
        from .watchlist_nn import WatchlistNN

        return WatchlistNN(
            **(WATCHLIST_QUICK if quick else WATCHLIST_FULL), **extra, random_state=seed
        )

    return {
        "popularity": Engine("popularity", b.Popularity, "implicit"),
        "ease": Engine("ease", lambda: b.EASE(lam=200.0), "implicit"),
        "als": Engine("als", lambda: b.ALS(factors=64, random_state=seed), "implicit"),
        "surprise_baselineonly": Engine(
            "surprise_baselineonly",
            b.SurpriseBaselineOnly,
            "explicit",
            rating=True,
            topn_sample=True,
        ),
        "surprise_svd": Engine(
            "surprise_svd",
            lambda: b.SurpriseSVD(random_state=seed),
            "explicit",
            rating=True,
            topn_sample=True,
        ),
        "surprise_knnbaseline": Engine(
            "surprise_knnbaseline", b.SurpriseKNNBaseline, "explicit", rating=True, topn_sample=True
        ),
        "knn_baseline": Engine("knn_baseline", _knn_baseline_factory, "explicit", rating=True),
        "watchlist_nn": Engine("watchlist_nn", nn, "implicit"),
        # The same network plus a learned full-rank item-item (wide) path, for reference.
        "watchlist_nn_wide": Engine("watchlist_nn_wide", lambda: nn(item_item=True), "implicit"),
        "hybrid": Engine("hybrid", lambda: hybrid_model(quick, seed), "scored"),
    }


def hybrid_model(quick: bool = False, seed: int = 0):
    """The learned hybrid with the components' evaluation settings (see hybrid.py)."""
    from .hybrid import HybridRanker

    return HybridRanker(
        ease_lam=200.0,
        nn_params=WATCHLIST_QUICK if quick else WATCHLIST_FULL,
        als_params={"factors": 64},
        knn_params={"k": 40, "shrinkage": 100},
        random_state=seed,
    )


# The class defaults were chosen on a validation split carved out of the training rows
# (split_topn seed 2), never on the test users; mini data wants a smaller, faster net.
WATCHLIST_FULL: dict = {}
WATCHLIST_QUICK: dict = {"hidden": 64, "epochs": 30, "lr": 3e-3, "batch_size": 64}

TOPN_ONLY_ON_SAMPLE_NOTE = (
    "surprise_* top-N loops Surprise's predict over every candidate title, so it is "
    "measured on meta.topn_sample_users only; every engine also reports ndcg@10_sample "
    "on that same sample for a like-for-like comparison"
)


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker(
    task: str, name: str, data_dir: str, quick: bool, seed: int, sample: np.ndarray, conn
) -> None:
    """Child process body: one engine, one protocol; sends a result dict back."""
    try:
        eng = engines(quick, seed)[name]
        ratings = load_ratings(data_dir)
        model = eng.factory()
        if task == "rating":
            train, test = split_explicit(ratings, seed=0)
            res = evaluate_rating(model, train, test)
        else:
            train, test = split_topn(ratings, seed=1)
            users = sample if eng.topn_sample else None
            res = evaluate_topn(model, train, test, (10, 20), eng.kind, users=users)
            if not eng.topn_sample:
                recs, _ = recommend_topn(model, train, sample, 10, eng.kind)
                res["ndcg@10_sample"] = topn_metrics(
                    recs, [test[int(u)] for u in sample], train.n_items, (10,)
                )["ndcg@10"]
            else:
                res["ndcg@10_sample"] = res["ndcg@10"]
            # Models that tune on a validation split of their training rows report it.
            if getattr(model, "validation_", None):
                res["validation"] = model.validation_
        res["peak_mb"] = _peak_rss_mb()
        conn.send(("ok", res))
    except EngineUnavailable as exc:
        conn.send(("skip", str(exc)))
    except Exception as exc:  # report, don't hang the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_in_subprocess(
    task: str, name: str, data_dir: str | Path, quick: bool, seed: int, sample: np.ndarray
) -> tuple[str, dict | str]:
    """Run one engine/protocol in a fresh ``spawn`` process so its peak RSS is its own."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(task, name, str(data_dir), quick, seed, sample, child))
    proc.start()
    child.close()
    try:
        status, payload = parent.recv()
    except EOFError:
        status, payload = "error", f"worker died (exit code {proc.exitcode})"
    proc.join()
    return status, payload


def run_offline_eval(
    data_dir: str | Path,
    quick: bool = False,
    seed: int = 0,
    sample_size: int = 300,
    only: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, dict]:
    """The whole comparison: {engine: {metric: value}} plus a ``meta`` entry.

    ``quick`` uses ``data_dir/mini`` when present and small model settings.
    Rating metrics are prefixed ``rating_``; top-N metrics are unprefixed.
    ``progress(done, total, step)`` is called before each engine/protocol step and once
    at the end (``done == total``).
    """
    data_dir = Path(data_dir)
    if quick and (data_dir / "mini").is_dir():
        data_dir = data_dir / "mini"
    ratings = load_ratings(data_dir)
    explicit_train, explicit_test = split_explicit(ratings, seed=0)
    topn_train, topn_test = split_topn(ratings, seed=1)
    rng = np.random.default_rng(seed)
    test_users = np.array(sorted(topn_test), dtype=np.int64)
    sample = np.sort(rng.choice(test_users, size=min(sample_size, len(test_users)), replace=False))
    names = list(engines(quick, seed)) if only is None else list(only)

    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    catalog = engines(quick, seed)
    steps = [(n, t) for n in names for t in (["rating"] if catalog[n].rating else []) + ["topn"]]
    done = 0
    for name in names:
        eng = catalog[name]
        row: dict = {}
        tasks = (["rating"] if eng.rating else []) + ["topn"]
        for task in tasks:
            if progress:
                progress(done, len(steps), f"{name} {task}")
            done += 1
            t = time.perf_counter()
            status, payload = run_in_subprocess(task, name, data_dir, quick, seed, sample)
            wall = time.perf_counter() - t
            if status != "ok":
                log(f"{name} {task}: {status}: {payload}")
                skipped[f"{name}/{task}"] = f"{status}: {payload}"
                continue
            prefix = "rating_" if task == "rating" else ""
            row.update({f"{prefix}{k}": v for k, v in payload.items()})
            row[f"{prefix}wall_s"] = wall
            log(f"{name} {task}: done in {wall:.1f} s")
        if row:
            results[name] = row
    if progress:
        progress(len(steps), len(steps), "done")

    results["meta"] = {
        "data_dir": str(data_dir),
        "n_users": ratings.n_users,
        "n_items": ratings.n_items,
        "n_rows": len(ratings.scores),
        "n_explicit_rows": int((ratings.scores > 0).sum()),
        "rating_split": {
            "fn": "split_explicit",
            "seed": 0,
            "n_train": len(explicit_train.scores),
            "n_test": len(explicit_test.scores),
        },
        "topn_split": {
            "fn": "split_topn",
            "seed": 1,
            "n_test_users": len(test_users),
            "n_held_out": int(sum(len(v) for v in topn_test.values())),
            "n_train_rows": len(topn_train.scores),
        },
        "topn_sample_users": len(sample),
        "topn_sample_seed": seed,
        "topn_sample_note": TOPN_ONLY_ON_SAMPLE_NOTE,
        "model_seed": seed,
        "quick": quick,
        "peak_mb_note": "ru_maxrss of a fresh spawn process that loads the data, fits and "
        "evaluates one engine (includes ~interpreter + data)",
        "skipped": skipped,
    }
    return results
