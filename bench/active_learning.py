"""Benchmark: active learning of per-user taste models on simulated users.

Runs without Django or pytest::

    .venv/bin/python bench/active_learning.py --data ../shared/data --json OUT.json

Protocol (issue 8): users with 150-600 explicit ratings, 40 drawn with seed 0; like =
score >= 8, dislike = score <= 6, score 7 dropped; 30% of each user's labeled titles are
held out (seeded per user) and scored by average precision (AP); the other 70% is the pool
the simulated user answers from. Each strategy starts from 10 labels and adds batches of
10 up to 100 (or the whole pool when it is smaller), retraining after every batch:

* ``uncertainty``: 10 random seed labels, then :func:`select_queue` (uncertainty with the
  product's exploration share);
* ``random``: 10 random seed labels, then random batches;
* ``cold_start``: the seed is the pool's first 10 titles in :func:`cold_start_order`,
  then as ``uncertainty``.

While a label set has one class only (no model can be trained), AP is computed from the
catalog mean score (what a user without a model sees) and the next batch is drawn as for
the seed. Reported AP is the mean over users.

Two designs run on the same users, splits and seeds:

* ``ours``: content features plus community item priors, item factors and a community
  prior log-odds used as the models' offset, all fitted on the ratings of every user
  except the 40 simulated ones (no leak), and the product's ``TasteModel`` defaults;
* ``reference``: the reference design, content features only (TF-IDF + MaxAbsScaler
  numeric), no offset, LightGBM/LogisticRegression at their library defaults, averaged
  3:7.

Timings: ``train_s_per_user_200_labels`` is the median over the simulated users with at
least 200 labeled titles of one ``fit`` on 200 of them plus scoring the whole catalog;
``queue_ms`` is the median time of one 20-title :func:`select_queue` page over the whole
catalog. The machine is shared, so timings are noisy; AP does not depend on load, but
moves by about 0.002 with the BLAS build and thread count (the SVD of the item factors).

Development flags (the defaults are the protocol above): ``--query`` runs the
``uncertainty`` and ``cold_start`` arms with another :func:`select_queue` strategy (e.g.
``information``), ``--strategies`` and ``--designs`` run fewer arms, and ``--user-seed``
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
STRATEGIES = ("uncertainty", "random", "cold_start")
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
    query: str = "uncertainty",
    exploration: float = 0.1,
) -> tuple[dict[int, float], int]:
    """AP on the held-out titles after each step; also how many steps had no model."""
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
    query: str = "uncertainty",
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
    features: taste.CatalogFeatures, labeled: dict[int, tuple[np.ndarray, np.ndarray]], params
) -> float:
    times = []
    for i, (rows, y) in enumerate(labeled.values()):
        if len(rows) < 200:
            continue
        pick = np.random.default_rng(i).choice(len(rows), 200, replace=False)
        t0 = time.perf_counter()
        model = taste.TasteModel(random_state=0, **params).fit(features.matrix[rows[pick]], y[pick])
        model.predict_proba(features.matrix)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_queue(features: taste.CatalogFeatures, repeats: int = 200) -> float:
    rng = np.random.default_rng(0)
    n = features.matrix.shape[0]
    proba = rng.random(n)
    eligible = rng.random(n) > 0.05
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        al.select_queue(proba, eligible, n=20, rng=rng)
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
    parser.add_argument("--query", default="uncertainty", choices=al.STRATEGIES[:-1])
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

    arms = {"ours": (ours, {}), "reference": (ref, REFERENCE_PARAMS)}
    results = {
        d: run_design(d, *arms[d][:1], prior, cold_rank, splits, arms[d][1], strategies, args.query)
        for d in designs
    }
    if (strategies, designs, args.query, args.user_seed) != (
        STRATEGIES,
        ("ours", "reference"),
        "uncertainty",
        0,
    ):
        dev_report(results, strategies, base_rate, args)
        return
    train_ours = time_training(ours, labeled, {})
    train_ref = time_training(ref, labeled, REFERENCE_PARAMS)
    queue_ms = time_queue(ours)

    o, r = results["ours"], results["reference"]
    print(f"\nActive learning, {N_USERS} simulated users, held-out base rate {base_rate:.3f}")
    print(
        f"{'labels':>6} | "
        + " | ".join(f"{d[:3]} {s[:11]:>11}" for d in ("ours", "ref") for s in STRATEGIES)
    )
    for s in STEPS:
        cells = [f"{res[strat][str(s)]:>15.4f}" for res in (o, r) for strat in STRATEGIES]
        print(f"{s:>6} | " + " | ".join(cells))
    reach_ours = labels_to_reach(o["uncertainty"], o["random"]["100"])
    reach_ref = labels_to_reach(r["uncertainty"], r["random"]["100"])
    print(f"uncertainty labels to reach random's AP@100: ours {reach_ours}, reference {reach_ref}")
    print(
        f"train 200 labels + score catalog: ours {train_ours:.3f} s, reference {train_ref:.3f} s"
        f" (ratio {train_ours / train_ref:.2f}); queue page {queue_ms:.2f} ms"
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
        "train_s_per_user_200_labels": round(train_ours, 4),
        "queue_ms": round(queue_ms, 3),
        "uncertainty_labels_to_reach_random_at_100": reach_ours,
        "no_model_steps": {s: o[f"{s}_no_model_steps"] for s in STRATEGIES},
        "reference": {
            "uncertainty": r["uncertainty"],
            "random": r["random"],
            "cold_start": r["cold_start"],
            "train_s_per_user_200_labels": round(train_ref, 4),
            "uncertainty_labels_to_reach_random_at_100": reach_ref,
            "no_model_steps": {s: r[f"{s}_no_model_steps"] for s in STRATEGIES},
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
