from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from recommender.ratings_import import RatingsFileError, community_ratings_import


class Command(BaseCommand):
    help = (
        "Load community ratings (user_id,anime_id,rating CSV, .gz accepted; -1 = completed "
        "but not scored) as training data. All or nothing; re-running updates scores."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="ratings.csv(.gz), or a data folder that holds one")
        parser.add_argument(
            "--skip-unknown-titles",
            action="store_true",
            help="drop rows whose title is not in the catalog",
        )

    def handle(self, *args, path: str, skip_unknown_titles: bool, **options):
        started = time.perf_counter()
        try:
            result = community_ratings_import(path=path, skip_unknown_titles=skip_unknown_titles)
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
