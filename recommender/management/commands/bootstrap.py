from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Anime
from recommender.ml import artifacts
from recommender.ml.registry import ENGINES
from recommender.models import CommunityRating


class Command(BaseCommand):
    help = (
        "First-run setup for the quick start. With ANIMENDER_DATA_DIR set: import its "
        "catalog.csv into an empty catalog, its ratings into empty community data, and "
        "train any engine that has no model yet."
    )

    def handle(self, *args, **options):
        data_dir = settings.ANIMENDER_DATA_DIR
        if not data_dir:
            self.stdout.write("ANIMENDER_DATA_DIR not set: nothing to import.")
            return
        if Anime.objects.exists():
            self.stdout.write(f"Catalog already holds {Anime.objects.count()} titles.")
        else:
            call_command("import_catalog", data_dir, stdout=self.stdout, stderr=self.stderr)
        has_ratings = any((Path(data_dir) / n).exists() for n in ("ratings.csv.gz", "ratings.csv"))
        if has_ratings and not CommunityRating.objects.exists():
            call_command(
                "import_ratings",
                data_dir,
                "--skip-unknown-titles",
                stdout=self.stdout,
                stderr=self.stderr,
            )
        for engine in ENGINES:
            if (
                artifacts.current_version(settings.MODEL_DIR, engine) is None
                and CommunityRating.objects.exists()
            ):
                self.stdout.write(f"Training {engine} (first run only)...")
                try:
                    call_command(
                        "train_models", "--engine", engine, stdout=self.stdout, stderr=self.stderr
                    )
                except CommandError:
                    # The site is still useful without this engine; the run row says why.
                    self.stderr.write(f"{engine} not trained; the site starts without it.")
