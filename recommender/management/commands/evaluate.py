from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recommender.engines.training_data import interactions_frame
from recommender.evaluation.runs import COMMUNITY_DATA, evaluation_run_record
from recommender.ml.evaluation import engines
from recommender.ml.report import evaluate_and_report


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
        parser.add_argument(
            "--no-record",
            action="store_true",
            help="do not keep the results as the Engines page's latest evaluation",
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
        no_record: bool,
        **options,
    ):
        given = data
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
            results = evaluate_and_report(
                data,
                json,
                plot,
                quick=quick,
                sample=sample,
                only=engines,
                out=self.stdout,
                log=sys.stderr,
            )
        if not no_record:
            # The harness may have picked data/mini (--quick): name what it really read.
            source = str(results["meta"]["data_dir"]) if given is not None else COMMUNITY_DATA
            run = evaluation_run_record(
                results=results, data_source=source, quick=quick, engines=engines, trigger="command"
            )
            self.stdout.write(f"Recorded as evaluation #{run.pk} (shown on /engines/).")
