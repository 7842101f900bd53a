from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from catalog.models import Anime


class Command(BaseCommand):
    help = ("First-run setup for the quick start: if ANIMENDER_DATA_DIR is set and the catalog "
            "is empty, import its catalog.csv.")

    def handle(self, *args, **options):
        data_dir = settings.ANIMENDER_DATA_DIR
        if not data_dir:
            self.stdout.write("ANIMENDER_DATA_DIR not set: nothing to import.")
            return
        if Anime.objects.exists():
            self.stdout.write(f"Catalog already holds {Anime.objects.count()} titles.")
            return
        call_command("import_catalog", data_dir, stdout=self.stdout, stderr=self.stderr)
