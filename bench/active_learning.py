"""Benchmark: active learning of per-user taste models on simulated users.

Runs without Django or pytest::

    .venv/bin/python bench/active_learning.py --data ../shared/data --json OUT.json

Protocol (issue 8): users with 150-600 explicit ratings, 40 drawn with seed 0; like =
score >= 8, dislike = score <= 6, score 7 dropped; 30% of each user's labeled titles are
held out (seeded per user) and scored by average precision (AP); the other 70% is the pool
the simulated user answers from. Each strategy starts from 10 labels and adds batches of
10 up to 100 (or the whole pool when it is smaller), retraining after every batch:

* ``uncertainty``: 10 random seed labels, then the product's queue: the batch that most
  reduces the model's uncertainty about the pool (``select_queue`` strategy
  ``"variance"``, see :func:`variance_order`) with the product's exploration share
  (``TASTE_EXPLORATION``, 0 by default);
* ``random``: 10 random seed labels, then random batches;
* ``cold_start``: the seed is the pool's first 10 titles in :func:`cold_start_order`,
  then as ``uncertainty``;
* ``margin``: as ``uncertainty`` but plain uncertainty sampling (P(like) closest to 0.5,
  the reference design's query and this product's queue until it was replaced).

While a label set has one class only (no model can be trained), AP is computed from the
catalog mean score (what a user without a model sees) and the next batch is drawn as for
the seed. Reported AP is the mean over users.

Two designs run on the same users, splits and seeds:

* ``ours``: content features plus community item priors, item factors and a community
  prior log-odds used as the models' offset, all fitted on the ratings of every user
  except the 40 simulated ones (no leak), and the product's ``TasteModel`` defaults;
* ``reference``: the reference design, content features only (TF-IDF + MaxAbsScaler
  numeric), no offset, LightGBM/LogisticRegression at their library defaults, averaged
  3:7, queried by plain uncertainty sampling (so it runs no ``margin`` arm).

Timings: ``train_s_per_user_200_labels`` is the median over the simulated users with at
least 200 labeled titles of one ``fit`` on 200 of them plus scoring the whole catalog;
``ask_order_s`` is the median time of the 50-title ask order a training run stores
(:func:`variance_order` over a 1,500-title pool, 200 labels); ``queue_ms`` is the median
time of the numpy part of one 20-title page over the whole catalog (closest-to-0.5 order
of the eligible titles and the exploration draw; the stored ask order is read from the
database). The machine is shared, so timings are noisy; AP does not depend on load, but
moves by about 0.002 with the BLAS build and thread count (the SVD of the item factors).

Development flags (the defaults are the protocol above): ``--query`` runs the
``uncertainty`` and ``cold_start`` arms with another :func:`select_queue` strategy (e.g.
``density``), ``--strategies`` and ``--designs`` run fewer arms, and ``--user-seed``
draws another 40 users (the community features are refitted without them), to check that
an idea found on seed 0 holds on users it was not tuned on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recommender.ml import active_learning as al  # noqa: E402
from recommender.ml import taste  # noqa: E402

N_USERS = 40
MIN_RATINGS, MAX_RATINGS = 150, 600
HOLDOUT = 0.3
STEPS = list(range(10, 101, 10))
STRATEGIES = ("uncertainty", "random", "cold_start", "margin")
# The query of the uncertainty and cold_start arms: the product's, and the reference's.
PRODUCT_QUERY = "variance"
REFERENCE_QUERY = "uncertainty"
ASK_ORDER = 50  # titles a training run orders for the queue (TASTE_ASK_ORDER)
EXPLORATION = 0.0  # the product's TASTE_EXPLORATION
# The reference design: LGBMClassifier() and LogisticRegression() defaults.
REFERENCE_PARAMS = {
    "n_estimators": 100,
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_child_samples": 20,
    "colsample_bytree": 1.0,
    "C": 1.0,
    "offset_column": None,
}


def pick_users(ratings: pd.DataFrame, seed: int = 0) -> np.ndarray:
    counts = ratings[ratings["rating"] > 0].groupby("user_id").size()
    users = np.sort(counts[(counts >= MIN_RATINGS) & (counts <= MAX_RATINGS)].index.to_numpy())
    return np.sort(np.random.default_rng(seed).choice(users, N_USERS, replace=False))


def user_split(
    rows: np.ndarray, y: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    n_test = int(round(HOLDOUT * len(rows)))
    test, pool = order[:n_test], order[n_test:]
    return rows[pool], y[pool], rows[test], y[test]


def simulate(
    features: taste.CatalogFeatures,
    prior: np.ndarray,
    cold_rank: np.ndarray,
    split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    strategy: str,
    params: dict,
    seed: int,
    query: str = PRODUCT_QUERY,
    exploration: float = EXPLORATION,
) -> tuple[dict[int, float], int]:
    """AP on the held-out titles after each step; also how many steps had no model."""
    if strategy == "margin":
        query = "uncertainty"
    pool_rows, pool_y, test_rows, test_y = split
    rng = np.random.default_rng(seed)
    X_pool = features.matrix[pool_rows]
    X_test = features.matrix[test_rows]
    n_pool = len(pool_rows)
    labeled = np.zeros(n_pool, dtype=bool)

    def seed_batch(k: int) -> np.ndarray:
        free = np.flatnonzero(~labeled)
        if strategy == "cold_start":
            return free[np.argsort(cold_rank[pool_rows[free]], kind="stable")[:k]]
        return rng.choice(free, size=min(k, len(free)), replace=False)

    labeled[seed_batch(STEPS[0])] = True
    out: dict[int, float] = {}
    fallbacks = 0
    for step in STEPS:
        idx = np.flatnonzero(labeled)
        try:
            model = taste.TasteModel(random_state=seed, **params).fit(X_pool[idx], pool_y[idx])
        except taste.NotEnoughLabels:
            model = None
            fallbacks += 1
        scores = model.predict_proba(X_test) if model is not None else prior[test_rows]
        out[step] = float(average_precision_score(test_y, scores))
        k = min(10, int((~labeled).sum()))
        if step == STEPS[-1] or k == 0:
            continue
        if model is None or strategy == "random":
            batch = seed_batch(k)
        else:
            proba = model.predict_proba(X_pool)
            picked = al.select_queue(
                proba,
                ~labeled,
                n=k,
                strategy=query,
                exploration=exploration,
                rng=rng,
                features=features,
                rows=pool_rows,
                labeled=labeled,
            )
            batch = np.array([r for r, _ in picked], dtype=np.int64)
        labeled[batch] = True
    # Steps past the pool size repeat the last AP (the user has nothing left to label).
    return out, fallbacks


def run_design(
    name: str,
    features: taste.CatalogFeatures,
    prior: np.ndarray,
    cold_rank: np.ndarray,
    splits: dict[int, tuple],
    params: dict,
    strategies: tuple[str, ...] = STRATEGIES,
    query: str = PRODUCT_QUERY,
) -> dict:
    result: dict = {}
    for strategy in strategies:
        per_user = []
        fallbacks = 0
        for i, (_, split) in enumerate(sorted(splits.items())):
            aps, fb = simulate(
                features, prior, cold_rank, split, strategy, params, seed=i, query=query
            )
            per_user.append([aps[s] for s in STEPS])
            fallbacks += fb
        mean = np.mean(per_user, axis=0)
        result[strategy] = {str(s): round(float(v), 4) for s, v in zip(STEPS, mean, strict=True)}
        result[f"{strategy}_no_model_steps"] = fallbacks
        print(f"  {name:9s} {strategy:11s} done", file=sys.stderr, flush=True)
    return result


def time_training(
    features: taste.CatalogFeatures,
    labeled: dict[int, tuple[np.ndarray, np.ndarray]],
    params,
    popular: np.ndarray | None = None,
) -> tuple[float, float | None]:
    """Median seconds of (fit on 200 labels + score the catalog, the ask order after it).

    The ask order (only with ``popular``, catalog rows most popular first) is the
    product's: :func:`variance_order` over the 1,500 most popular unlabeled titles.
    """
    times, ask_times = [], []
    for i, (rows, y) in enumerate(labeled.values()):
        if len(rows) < 200:
            continue
        pick = np.random.default_rng(i).choice(len(rows), 200, replace=False)
        t0 = time.perf_counter()
        model = taste.TasteModel(random_state=0, **params).fit(features.matrix[rows[pick]], y[pick])
        proba = model.predict_proba(features.matrix)
        times.append(time.perf_counter() - t0)
        if popular is not None:
            pool = popular[~np.isin(popular, rows[pick])][: al.VARIANCE_POOL]
            t0 = time.perf_counter()
            al.variance_order(features.matrix, proba, rows[pick], pool, ASK_ORDER)
            ask_times.append(time.perf_counter() - t0)
    return float(np.median(times)), (float(np.median(ask_times)) if ask_times else None)


def time_queue(features: taste.CatalogFeatures, repeats: int = 200) -> float:
    """Median ms of the numpy part of one queue page over the whole catalog."""
    rng = np.random.default_rng(0)
    n = features.matrix.shape[0]
    proba = rng.random(n)
    eligible = rng.random(n) > 0.05
    asked = rng.choice(n, ASK_ORDER, replace=False)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        al.queue_orders(proba, eligible, asked, rng)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def labels_to_reach(curve: dict[str, float], target: float) -> int | None:
    for s in STEPS:
        if curve[str(s)] >= target:
            return s
    return None


def dev_report(results: dict, strategies: tuple[str, ...], base_rate: float, args) -> None:
    """A development run (not the protocol): the curves that ran, no timings."""
    print(f"\nDEV run (query {args.query}, user seed {args.user_seed}), base rate {base_rate:.3f}")
    for design, res in results.items():
        for strat in strategies:
            if strat not in res:
                continue
            print(
                f"{design:9s} {strat:11s} " + " ".join(f"{res[strat][str(s)]:.4f}" for s in STEPS)
            )
        if {"uncertainty", "random"} <= set(strategies):
            reach = labels_to_reach(res["uncertainty"], res["random"]["100"])
            print(f"{design}: uncertainty labels to reach random's AP@100: {reach}")
    if args.json:
        dev = {"query": args.query, "user_seed": args.user_seed, "base_rate": base_rate}
        Path(args.json).write_text(json.dumps({"dev": dev, **results}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--query", default=PRODUCT_QUERY, choices=al.STRATEGIES[:-1])
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--designs", default="ours,reference")
    parser.add_argument("--user-seed", type=int, default=0)
    args = parser.parse_args()
    strategies = tuple(s for s in args.strategies.split(",") if s)
    designs = tuple(d for d in args.designs.split(",") if d)
    if set(strategies) - set(STRATEGIES) or set(designs) - {"ours", "reference"}:
        parser.error("unknown strategy or design")
    data = Path(args.data)

    t_start = time.perf_counter()
    catalog = pd.read_csv(data / "catalog.csv")
    ratings = pd.read_csv(data / "ratings.csv.gz")
    users = pick_users(ratings, seed=args.user_seed)
    community = ratings[~ratings["user_id"].isin(users)]

    t0 = time.perf_counter()
    ours = taste.build_catalog_features(catalog, interactions=community, random_state=0)
    build_ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    built = taste.build_catalog_features(catalog, random_state=0, with_density=False)
    # The reference has no prior offset: drop column 0 (prior:logit) and fit from zero.
    ref = taste.CatalogFeatures(built.mal_ids, built.matrix[:, 1:], built.feature_names[1:])
    build_ref_s = time.perf_counter() - t0
    prior = pd.to_numeric(catalog["score"], errors="coerce").fillna(0).to_numpy()
    cold_rank = np.empty(len(catalog), dtype=np.int64)
    cold_rank[al.cold_start_order(catalog, random_state=0)] = np.arange(len(catalog))

    splits, labeled = {}, {}
    explicit = ratings[ratings["user_id"].isin(users) & (ratings["rating"] > 0)]
    explicit = explicit[explicit["rating"] != 7]
    for i, (user, frame) in enumerate(explicit.groupby("user_id", sort=True)):
        rows = ours.rows_for(frame["anime_id"].to_numpy())
        y = (frame["rating"].to_numpy() >= taste.LIKE_MIN_SCORE).astype(np.int64)
        splits[int(user)] = user_split(rows, y, seed=i)
        labeled[int(user)] = (rows, y)
    base_rate = float(np.mean([s[3].mean() for s in splits.values()]))

    arms = {
        "ours": (ours, {}, strategies, args.query),
        # The reference queries by plain uncertainty: its margin arm would repeat that.
        "reference": (
            ref,
            REFERENCE_PARAMS,
            tuple(s for s in strategies if s != "margin"),
            REFERENCE_QUERY,
        ),
    }
    results = {}
    for d in designs:
        features, params, arm_strategies, query = arms[d]
        results[d] = run_design(
            d, features, prior, cold_rank, splits, params, arm_strategies, query
        )
    if (strategies, designs, args.query, args.user_seed) != (
        STRATEGIES,
        ("ours", "reference"),
        PRODUCT_QUERY,
        0,
    ):
        dev_report(results, strategies, base_rate, args)
        return
    members = pd.to_numeric(catalog["members"], errors="coerce").fillna(0).to_numpy()
    popular = np.argsort(-members, kind="stable")
    train_ours, ask_order_s = time_training(ours, labeled, {}, popular)
    train_ref, _ = time_training(ref, labeled, REFERENCE_PARAMS)
    queue_ms = time_queue(ours)

    o, r = results["ours"], results["reference"]
    print(f"\nActive learning, {N_USERS} simulated users, held-out base rate {base_rate:.3f}")
    columns = [("ours", o, s) for s in STRATEGIES] + [("ref", r, s) for s in STRATEGIES if s in r]
    print(f"{'labels':>6} | " + " | ".join(f"{d} {s[:11]:>11}" for d, _, s in columns))
    for step in STEPS:
        cells = [f"{res[s][str(step)]:>{len(d) + 12}.4f}" for d, res, s in columns]
        print(f"{step:>6} | " + " | ".join(cells))
    reach_ours = labels_to_reach(o["uncertainty"], o["random"]["100"])
    reach_margin = labels_to_reach(o["margin"], o["random"]["100"])
    reach_ref = labels_to_reach(r["uncertainty"], r["random"]["100"])
    print(
        f"labels to reach random's AP@100: ours {reach_ours} (margin sampling {reach_margin}),"
        f" reference {reach_ref}"
    )
    print(
        f"train 200 labels + score catalog: ours {train_ours:.3f} s, reference {train_ref:.3f} s"
        f" (ratio {train_ours / train_ref:.2f}); ask order {ask_order_s:.3f} s;"
        f" queue page {queue_ms:.2f} ms"
    )
    print(
        f"features: ours {build_ours_s:.1f} s, reference {build_ref_s:.1f} s;"
        f" total {time.perf_counter() - t_start:.0f} s"
    )

    out = {
        "base_rate": round(base_rate, 4),
        "uncertainty": o["uncertainty"],
        "random": o["random"],
        "cold_start": o["cold_start"],
        "margin": o["margin"],
        "query": PRODUCT_QUERY,
        "train_s_per_user_200_labels": round(train_ours, 4),
        "ask_order_s": round(ask_order_s, 4),
        "queue_ms": round(queue_ms, 3),
        "uncertainty_labels_to_reach_random_at_100": reach_ours,
        "margin_labels_to_reach_random_at_100": reach_margin,
        "no_model_steps": {s: o[f"{s}_no_model_steps"] for s in STRATEGIES},
        "reference": {
            "uncertainty": r["uncertainty"],
            "random": r["random"],
            "cold_start": r["cold_start"],
            "query": REFERENCE_QUERY,
            "train_s_per_user_200_labels": round(train_ref, 4),
            "uncertainty_labels_to_reach_random_at_100": reach_ref,
            "no_model_steps": {s: r[f"{s}_no_model_steps"] for s in STRATEGIES if s in r},
        },
        "protocol": {
            "users": N_USERS,
            "ratings_per_user": [MIN_RATINGS, MAX_RATINGS],
            "holdout": HOLDOUT,
            "steps": STEPS,
            "feature_build_s": {"ours": round(build_ours_s, 2), "reference": round(build_ref_s, 2)},
        },
    }
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
