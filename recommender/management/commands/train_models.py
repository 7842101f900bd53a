from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from animender.runs import RunAlreadyActive
from recommender.engines.services import (
    training_run_create,
    training_run_enqueue,
    training_run_execute,
)
from recommender.ml.registry import ENGINES
from recommender.models import TrainingRun


class Command(BaseCommand):
    help = (
        "Train the global engines on the community data and publish them as the serving "
        "version. Trains in this process; --queue hands the runs to the Celery workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--engine", choices=[*ENGINES, "all"], default="all")
        parser.add_argument("--queue", action="store_true", help="enqueue on Celery and return")

    def handle(self, *args, engine: str, queue: bool, **options):
        engines = list(ENGINES) if engine == "all" else [engine]
        failed = False
        for name in engines:
            try:
                if queue:
                    run = training_run_enqueue(engine=name, trigger="command")
                    self.stdout.write(f"{name}: queued as run #{run.pk}")
                    continue
                run = training_run_create(engine=name, trigger="command")
            except RunAlreadyActive as exc:
                raise CommandError(f"{exc} Wait for it to finish.") from None
            run = training_run_execute(run_id=run.pk)
            if run.state == TrainingRun.State.DONE:
                m = run.metrics
                self.stdout.write(
                    self.style.SUCCESS(
                        f"{name}: version {run.version} in {m['fit_seconds']:.1f} s "
                        f"({m['users']} users, {m['items']} titles, {m['interactions']} "
                        "interactions)"
                    )
                )
            else:
                failed = True
                self.stderr.write(f"{name}: failed: {run.error}")
        if failed:
            raise CommandError("training failed")
