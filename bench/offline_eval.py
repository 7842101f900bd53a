"""Offline comparison of every recommender engine, without Django.

    .venv/bin/python bench/offline_eval.py --data ../shared/data --json OUT.json \
        [--plot OUT.png] [--quick]

Prints one table, writes {engine: {metric: value}} plus "meta" as JSON, and optionally a
bar plot of NDCG@10. The logic lives in recommender.ml.evaluation.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.ml.evaluation import engines, run_offline_eval  # noqa: E402

COLUMNS = [
    ("rating_rmse", "RMSE", "{:.3f}"), ("rating_mae", "MAE", "{:.3f}"),
    ("rating_fit_s", "fit s", "{:.1f}"), ("rating_peak_mb", "peak MB", "{:.0f}"),
    ("recall@10", "R@10", "{:.3f}"), ("ndcg@10", "NDCG@10", "{:.3f}"),
    ("recall@20", "R@20", "{:.3f}"), ("coverage@10", "cov@10", "{:.3f}"),
    ("ms_per_user", "ms/user", "{:.2f}"), ("n_users", "users", "{:d}"),
    ("ndcg@10_sample", "NDCG@10 smp", "{:.3f}"), ("fit_s", "topN fit s", "{:.1f}"),
    ("peak_mb", "topN MB", "{:.0f}"),
]


def format_table(results: dict[str, dict]) -> str:
    names = [n for n in results if n != "meta"]
    header = ["engine"] + [c[1] for c in COLUMNS]
    rows = [header]
    for name in names:
        row = [name]
        for key, _, fmt in COLUMNS:
            v = results[name].get(key)
            row.append("-" if v is None or (isinstance(v, float) and math.isnan(v))
                       else fmt.format(v))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def plot_ndcg(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in results if n != "meta" and "ndcg@10" in results[n]]
    values = [results[n]["ndcg@10"] for n in names]
    fig, ax = plt.subplots(figsize=(8, 4))
    bars = ax.bar(names, values, color="tab:blue")
    ax.bar_label(bars, fmt="%.3f")
    ax.set_ylabel("NDCG@10")
    ax.set_ylim(0, max(values, default=1.0) * 1.15)  # room for the value labels
    meta = results["meta"]
    ax.set_title(f"Top-N NDCG@10 ({meta['topn_split']['n_test_users']} test users; "
                 f"surprise_* on {meta['topn_sample_users']} sampled)")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path,
                        help="folder holding ratings.csv.gz (and mini/)")
    parser.add_argument("--json", required=True, type=Path, help="where to write results")
    parser.add_argument("--plot", type=Path, help="PNG bar plot of NDCG@10")
    parser.add_argument("--quick", action="store_true",
                        help="mini data set and small model settings (smoke run)")
    parser.add_argument("--seed", type=int, default=0, help="model and user-sample seed")
    parser.add_argument("--sample", type=int, default=300,
                        help="users in the fixed sample for Surprise top-N")
    parser.add_argument("--engines", nargs="+", choices=list(engines()),
                        help="run only these engines")
    args = parser.parse_args(argv)

    t = time.perf_counter()
    results = run_offline_eval(args.data, quick=args.quick, seed=args.seed,
                               sample_size=args.sample, only=args.engines,
                               log=lambda s: print(s, file=sys.stderr, flush=True))
    results["meta"]["total_s"] = time.perf_counter() - t
    print(format_table(results))
    print(f"\n{results['meta']['topn_sample_note']} "
          f"({results['meta']['topn_sample_users']} users).")
    for what, why in results["meta"]["skipped"].items():
        print(f"skipped {what}: {why}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=float))
    if args.plot:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot_ndcg(results, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
