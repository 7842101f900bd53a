"""Printing and plotting the offline evaluation, shared by bench/offline_eval.py and
``manage.py evaluate`` so both show the same table."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from .evaluation import run_offline_eval

COLUMNS = [
    ("rating_rmse", "RMSE", "{:.3f}"),
    ("rating_mae", "MAE", "{:.3f}"),
    ("rating_fit_s", "fit s", "{:.1f}"),
    ("rating_peak_mb", "peak MB", "{:.0f}"),
    ("recall@10", "R@10", "{:.3f}"),
    ("ndcg@10", "NDCG@10", "{:.3f}"),
    ("recall@20", "R@20", "{:.3f}"),
    ("coverage@10", "cov@10", "{:.3f}"),
    ("ms_per_user", "ms/user", "{:.2f}"),
    ("n_users", "users", "{:d}"),
    ("ndcg@10_sample", "NDCG@10 smp", "{:.3f}"),
    ("fit_s", "topN fit s", "{:.1f}"),
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
            row.append(
                "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)
            )
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def validation_lines(results: dict[str, dict]) -> list[str]:
    """For engines that tuned on a validation split of the training rows: NDCG@10 there
    (theirs and their components') beside the test figure."""
    lines = []
    for name, row in results.items():
        val = row.get("validation") if name != "meta" else None
        if not val:
            continue
        metrics = val["metrics"]
        parts = ", ".join(f"{k} {v['ndcg@10']:.3f}" for k, v in metrics.items() if k != name)
        own = metrics.get("hybrid" if "hybrid" in metrics else name, {}).get("ndcg@10")
        lines.append(
            f"{name}: validation NDCG@10 {own:.3f} on {val['ndcg_users']} held-out "
            f"training users (components there: {parts}); test NDCG@10 {row['ndcg@10']:.3f}"
        )
    return lines


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
    ax.set_title(
        f"Top-N NDCG@10 ({meta['topn_split']['n_test_users']} test users; "
        f"surprise_* on {meta['topn_sample_users']} sampled)"
    )
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_and_report(
    data: Path,
    json_path: Path | None,
    plot_path: Path | None = None,
    quick: bool = False,
    seed: int = 0,
    sample: int = 300,
    only: Sequence[str] | None = None,
    out: TextIO = sys.stdout,
    log: TextIO = sys.stderr,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, dict]:
    """Run every engine on ``data``, print the table to ``out``, write JSON and the plot."""
    t = time.perf_counter()
    results = run_offline_eval(
        data,
        quick=quick,
        seed=seed,
        sample_size=sample,
        only=only,
        log=lambda s: print(s, file=log, flush=True),
        progress=progress,
    )
    results["meta"]["total_s"] = time.perf_counter() - t
    print(format_table(results), file=out)
    print(
        f"\n{results['meta']['topn_sample_note']} ({results['meta']['topn_sample_users']} users).",
        file=out,
    )
    for line in validation_lines(results):
        print(line, file=out)
    for what, why in results["meta"]["skipped"].items():
        print(f"skipped {what}: {why}", file=out)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2, default=float))
    if plot_path:
        plot_path.parent.mkdir(parents=True, exist_ok=True)
        plot_ndcg(results, plot_path)
    return results
