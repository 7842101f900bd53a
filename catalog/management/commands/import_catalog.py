from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog.csv_import import CatalogCsvError
from catalog.services import catalog_import_csv


class Command(BaseCommand):
    help = "Import anime from a catalog CSV (format of shared/data/catalog.csv), all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("path", help="catalog.csv, or a data folder that holds one")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, path: str, no_progress: bool, **options):
        csv_path = Path(path)
        if csv_path.is_dir():
            csv_path = csv_path / "catalog.csv"
        if not csv_path.is_file():
            raise CommandError(f"No catalog CSV at {csv_path}")
        with open(csv_path, "rb") as fh:  # row count for the bar; cheap next to parsing
            total = max(sum(1 for _ in fh) - 1, 0)
        bar = tqdm(
            total=total,
            unit="title",
            disable=no_progress,
            desc="Importing catalog",
            file=self.stderr._out,
        )
        try:
            counts = catalog_import_csv(path=csv_path, progress=bar.update)
        except CatalogCsvError as exc:
            raise CommandError(f"{csv_path}: {exc}. Nothing was imported.") from None
        finally:
            bar.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {counts.created + counts.updated} titles "
                f"({counts.created} new, {counts.updated} updated) from {csv_path}."
            )
        )
