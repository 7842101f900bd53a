"""Offline comparison of every recommender engine, without Django.

    .venv/bin/python bench/offline_eval.py --data ../shared/data --json OUT.json \
        [--plot OUT.png] [--quick]

Prints one table, writes {engine: {metric: value}} plus "meta" as JSON, and optionally a
bar plot of NDCG@10. The logic lives in recommender.ml.evaluation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.ml.evaluation import engines  # noqa: E402
from recommender.ml.report import evaluate_and_report  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", required=True, type=Path, help="folder holding ratings.csv.gz (and mini/)"
    )
    parser.add_argument("--json", required=True, type=Path, help="where to write results")
    parser.add_argument("--plot", type=Path, help="PNG bar plot of NDCG@10")
    parser.add_argument(
        "--quick", action="store_true", help="mini data set and small model settings (smoke run)"
    )
    parser.add_argument("--seed", type=int, default=0, help="model and user-sample seed")
    parser.add_argument(
        "--sample", type=int, default=300, help="users in the fixed sample for Surprise top-N"
    )
    parser.add_argument(
        "--engines", nargs="+", choices=list(engines()), help="run only these engines"
    )
    args = parser.parse_args(argv)

    evaluate_and_report(
        args.data,
        args.json,
        args.plot,
        quick=args.quick,
        seed=args.seed,
        sample=args.sample,
        only=args.engines,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
