from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from animender.runs import RunAlreadyActive
from catalog.mal_client import MalClient, MalConfigError, MalError
from catalog.models import SyncRun
from catalog.sync import catalog_sync


class Command(BaseCommand):
    help = (
        "Sync the anime catalog from MyAnimeList (full: the all-titles ranking; seasonal: "
        "current, previous and next season). Resumes the last failed run by default."
    )

    def add_arguments(self, parser):
        parser.add_argument("--mode", choices=[m.value for m in SyncRun.Mode], default="full")
        parser.add_argument(
            "--no-resume",
            action="store_true",
            help="start over instead of continuing the last failed run",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, mode: str, no_resume: bool, no_progress: bool, **options):
        try:
            client = MalClient.from_settings()
        except MalConfigError as exc:
            raise CommandError(str(exc)) from None
        bar = tqdm(
            unit="title", disable=no_progress, desc=f"MAL {mode} sync", file=self.stderr._out
        )
        started = time.monotonic()
        try:
            run = catalog_sync(mode=mode, client=client, progress=bar.update, resume=not no_resume)
        except RunAlreadyActive as exc:
            raise CommandError(f"{exc} Wait for it to finish.") from None
        except MalConfigError as exc:
            raise CommandError(f"{exc} Nothing more was fetched.") from None
        except MalError as exc:
            run = SyncRun.objects.filter(mode=mode).order_by("-pk").first()
            if run and run.endpoint and run.retryable:
                where = f" Run again to resume at {run.endpoint} offset {run.next_offset}."
            elif run:
                where = " Retrying will not help; the next run starts a fresh plan."
            else:
                where = ""
            raise CommandError(f"Sync #{run.pk if run else '?'} failed: {exc}.{where}") from None
        finally:
            bar.close()
            client.close()
        resumed = f" (resumed #{run.resumed_from_id})" if run.resumed_from_id else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Sync #{run.pk} {mode} done{resumed}: {run.pages} pages, {run.requests} requests, "
                f"{run.titles_created} created, {run.titles_updated} updated "
                f"in {time.monotonic() - started:.1f}s."
            )
        )
