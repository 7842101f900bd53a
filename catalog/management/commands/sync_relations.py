from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog.mal_client import MalClient, MalConfigError
from catalog.relations_sync import STALE_AFTER, relations_sync


class Command(BaseCommand):
    help = (
        "Fetch MAL's related_anime (sequels, prequels, side stories...) for titles not "
        "fetched yet or fetched long ago, one request at a time; resumes where it stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, help="at most this many titles (default: all due)")
        parser.add_argument(
            "--stale-days",
            type=int,
            default=STALE_AFTER.days,
            help="refetch relations older than this (default %(default)s)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, limit: int | None, stale_days: int, no_progress: bool, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        try:
            client = MalClient.from_settings()
        except MalConfigError as exc:
            raise CommandError(str(exc)) from None
        bar = tqdm(unit="title", total=limit, disable=no_progress, file=self.stderr._out)
        started = time.monotonic()
        try:
            result = relations_sync(
                limit=limit,
                client=client,
                stale_after=timedelta(days=stale_days),
                progress=bar.update,
            )
        except MalConfigError as exc:
            raise CommandError(f"{exc} Nothing more was fetched.") from None
        finally:
            bar.close()
            client.close()
        summary = (
            f"Relations of {result.titles} titles ({result.relations} links, "
            f"{result.not_found} gone from MAL) in {time.monotonic() - started:.1f}s; "
            f"{result.remaining} titles still due."
        )
        if result.error:
            raise CommandError(f"{summary} Stopped early: {result.error}. Run again to resume.")
        self.stdout.write(self.style.SUCCESS(summary))
