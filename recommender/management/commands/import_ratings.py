from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from recommender.engines.ratings_import import (
    CHUNK_ROWS,
    RatingsFileError,
    community_ratings_import,
)


class Command(BaseCommand):
    help = (
        "Load community ratings (user_id,anime_id,rating CSV, .gz accepted; -1 = completed "
        "but not scored) as training data. Streamed in chunks (bounded memory), all or "
        "nothing; re-running updates scores."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="ratings.csv(.gz), or a data folder that holds one")
        parser.add_argument(
            "--skip-unknown-titles",
            action="store_true",
            help="drop rows whose title is not in the catalog",
        )
        parser.add_argument(
            "--chunk-rows",
            type=int,
            default=CHUNK_ROWS,
            help=f"rows read, validated and written at a time (memory bound; {CHUNK_ROWS:,})",
        )
        parser.add_argument(
            "--progress", action="store_true", help="print rows and rows/s after each chunk"
        )

    def handle(self, *args, path: str, skip_unknown_titles: bool, **options):
        started = time.perf_counter()

        def progress(rows: int) -> None:
            rate = rows / max(time.perf_counter() - started, 1e-9)
            self.stderr.write(f"{rows:,} rows ({rate:,.0f} rows/s)")

        try:
            result = community_ratings_import(
                path=path,
                skip_unknown_titles=skip_unknown_titles,
                chunk_rows=options["chunk_rows"],
                progress=progress if options["progress"] else None,
            )
        except RatingsFileError as exc:
            raise CommandError(f"{exc}. Nothing was imported.") from None
        seconds = time.perf_counter() - started
        skipped = (
            f", skipped {result.skipped_unknown_titles} rows of unknown titles"
            if result.skipped_unknown_titles
            else ""
        )
        rate = result.rows / max(seconds, 1e-9)
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.rows} ratings of {result.members} members on {result.titles} "
                f"titles in {seconds:.1f} s ({rate:,.0f} rows/s){skipped}."
            )
        )
