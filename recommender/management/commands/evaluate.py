from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recommender.ml.evaluation import engines
from recommender.ml.report import evaluate_and_report
from recommender.services import interactions_frame


class Command(BaseCommand):
    help = (
        "Offline evaluation of every engine and baseline (rating prediction and top-N), "
        "on the platform's community data or on a data folder; prints the table."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            type=Path,
            help="folder with ratings.csv(.gz); default: the community data in the database",
        )
        parser.add_argument("--json", type=Path, help="write {engine: {metric: value}} here")
        parser.add_argument("--plot", type=Path, help="PNG bar plot of NDCG@10")
        parser.add_argument(
            "--quick", action="store_true", help="small model settings (and data/mini when present)"
        )
        parser.add_argument(
            "--engines", nargs="+", choices=list(engines()), help="run only these engines"
        )
        parser.add_argument(
            "--sample", type=int, default=300, help="users in the fixed sample for Surprise top-N"
        )

    def handle(
        self,
        *args,
        data: Path | None,
        json: Path | None,
        plot: Path | None,
        quick: bool,
        engines: list[str] | None,
        sample: int,
        **options,
    ):
        with tempfile.TemporaryDirectory(prefix="animender-eval-") as tmp:
            if data is None:
                # The harness reads files in worker processes: export the rows once.
                frame = interactions_frame()
                if frame.empty:
                    raise CommandError(
                        "No community ratings: run import_ratings first, or pass --data."
                    )
                data = Path(tmp)
                frame.to_csv(data / "ratings.csv", index=False)
            elif not any((data / n).exists() for n in ("ratings.csv.gz", "ratings.csv")):
                raise CommandError(f"No ratings.csv(.gz) in {data}")
            evaluate_and_report(
                data,
                json,
                plot,
                quick=quick,
                sample=sample,
                only=engines,
                out=self.stdout,
                log=sys.stderr,
            )
