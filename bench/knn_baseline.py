"""Benchmark: our KNNBaseline against scikit-surprise's on the full MAL ratings.

Runs without Django or pytest::

    .venv/bin/python bench/knn_baseline.py --data ../shared/data --json OUT.json

Both models use the explicit 80/20 split of ``data.split_explicit(seed=0)`` and the same
settings (item-based, pearson_baseline, shrinkage 100, k 40, ALS baselines). Each fit runs
in its own spawned process so peak memory is its own: ``ru_maxrss`` after the fit minus
``ru_maxrss`` after loading the data. Top-N time is per user: ours is one
``recommend()`` call, Surprise's is ``predict()`` looped over the catalogue (what using it
for recommendations costs). Each engine is fitted ``--runs`` times (default 3), each time
in a fresh process; the table shows the best fit time and the median and spread, and
``fit_speedup`` compares best with best; ``fit_cpu_speedup`` compares the fits' best CPU
seconds (both are single-threaded, so that is the wall-clock ratio of a quiet machine,
robust to other processes sharing the cores). Our fit time includes loading the compiled
similarity kernel from numba's on-disk cache; the very first fit after a fresh install
also compiles it (a few seconds), so run the benchmark after any fit has run once.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _run(
    engine: str, data_dir: str, neighbours: int | None, n_users: int, seed: int
) -> dict[str, float]:
    """Fit, evaluate and time top-N for one engine; runs inside a spawned process."""
    sys.path.insert(0, str(ROOT))
    from recommender.ml import data

    ratings = data.load_ratings(data_dir)
    train, test = data.split_explicit(ratings, seed=0)
    matrix = train.matrix()
    rng = np.random.default_rng(seed)
    topn_users = rng.choice(np.unique(train.users), size=n_users, replace=False)

    if engine == "ours":
        from recommender.ml.knn_baseline import KNNBaseline

        base_mb = _peak_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        model = KNNBaseline(neighbours_stored=neighbours).fit(matrix)
        fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        peak_mb = _peak_mb() - base_mb
        pred = model.predict(test.users, test.items)
        t0 = time.perf_counter()
        for u in topn_users:
            model.recommend(matrix[int(u)], n=10, users=np.array([u]))
        topn_ms = (time.perf_counter() - t0) / n_users * 1000
    else:
        import pandas as pd
        from surprise import Dataset, Reader
        from surprise import KNNBaseline as SurpriseKNNBaseline

        frame = pd.DataFrame(
            {"u": train.users, "i": train.items, "r": train.scores.astype(np.float64)}
        )
        trainset = Dataset.load_from_df(frame, Reader(rating_scale=(1, 10))).build_full_trainset()
        base_mb = _peak_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        model = SurpriseKNNBaseline(
            k=40,
            min_k=1,
            verbose=False,
            sim_options={"name": "pearson_baseline", "user_based": False, "shrinkage": 100},
            bsl_options={"method": "als", "reg_i": 10, "reg_u": 15, "n_epochs": 10},
        ).fit(trainset)
        fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        peak_mb = _peak_mb() - base_mb
        pred = np.array(
            [model.predict(int(u), int(i)).est for u, i in zip(test.users, test.items, strict=True)]
        )
        catalog = [int(i) for i in np.unique(train.items)]
        t0 = time.perf_counter()
        for u in topn_users:
            ests = [model.predict(int(u), i, clip=False).est for i in catalog]
            np.argsort(ests)[-10:]
        topn_ms = (time.perf_counter() - t0) / n_users * 1000
    err = np.asarray(pred, dtype=np.float64) - test.scores
    return {
        "fit_s": fit_s,
        "fit_cpu_s": fit_cpu_s,
        "peak_mb": peak_mb,
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "topn_ms_per_user": topn_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--json", default=None, help="write results here")
    parser.add_argument(
        "--neighbours", type=int, default=200, help="neighbours_stored for ours (0 = keep all)"
    )
    parser.add_argument("--topn-users", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="picks the top-N users")
    parser.add_argument("--runs", type=int, default=3, help="fresh-process fits per engine")
    args = parser.parse_args()
    neighbours = args.neighbours or None

    ctx = mp.get_context("spawn")
    results, runs = {}, {}
    for engine in ("ours", "surprise"):
        runs[engine] = []
        for _ in range(args.runs):
            with ctx.Pool(1) as pool:
                runs[engine].append(
                    pool.apply(_run, (engine, args.data, neighbours, args.topn_users, args.seed))
                )
        fits = sorted(r["fit_s"] for r in runs[engine])
        best = min(runs[engine], key=lambda r: r["fit_s"])
        results[engine] = {
            **best,
            "fit_s_median": float(np.median(fits)),
            "fit_s_spread": fits[-1] - fits[0],
            "fit_s_all": [r["fit_s"] for r in runs[engine]],
            "fit_cpu_s_best": min(r["fit_cpu_s"] for r in runs[engine]),
            "peak_mb_max": max(r["peak_mb"] for r in runs[engine]),
        }
    ours, theirs = results["ours"], results["surprise"]
    ratios = {
        "fit_speedup": theirs["fit_s"] / ours["fit_s"],
        "fit_speedup_median": theirs["fit_s_median"] / ours["fit_s_median"],
        # Both fits are single-threaded: CPU seconds are what a quiet machine would show.
        "fit_cpu_speedup": theirs["fit_cpu_s_best"] / ours["fit_cpu_s_best"],
        "memory_ratio": ours["peak_mb_max"] / theirs["peak_mb_max"],
        "rmse_delta": ours["rmse"] - theirs["rmse"],
        "topn_speedup": theirs["topn_ms_per_user"] / ours["topn_ms_per_user"],
    }
    print(
        f"{'engine':<10}{'best fit s':>11}{'median':>8}{'spread':>8}{'cpu s':>7}{'peak MB':>10}"
        f"{'RMSE':>9}{'MAE':>9}{'top-N ms/user':>15}"
    )
    for name, r in results.items():
        print(
            f"{name:<10}{r['fit_s']:>11.2f}{r['fit_s_median']:>8.2f}{r['fit_s_spread']:>8.2f}"
            f"{r['fit_cpu_s_best']:>7.2f}"
            f"{r['peak_mb_max']:>10.1f}{r['rmse']:>9.4f}{r['mae']:>9.4f}"
            f"{r['topn_ms_per_user']:>15.2f}"
        )
    print("  ".join(f"{k}={v:.4g}" for k, v in ratios.items()))
    if args.json:
        payload = {
            "neighbours_stored": neighbours,
            "runs": args.runs,
            "results": results,
            "ratios": ratios,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
