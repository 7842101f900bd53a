"""Benchmark: writing the catalog in bulk (MAL sync, CSV import) against one row at a time.

Runs without pytest; sets Django up itself, one fresh database per path::

    .venv/bin/python bench/catalog_sync.py [--csv ../shared/data/catalog.csv] \
        [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--json OUT.json]

Paths, each in its own subprocess on a fresh, migrated database (temporary SQLite file,
or a temporary PostgreSQL database created next to ``--database-url``'s and dropped):

- ``sync``: ``catalog_sync(mode="full")`` walking /anime/ranking of the fake MAL server
  (tests/fakes/mal_server.py, real HTTP on 127.0.0.1, no request pacing) serving the CSV;
- ``import``: ``catalog_import_csv`` (parse + bulk upsert);
- ``naive``: parse the same CSV, then per title ``Anime(...).save()``, ``genres.set()`` and
  ``studios.set()`` with ``get_or_create`` per genre/studio name, all in one transaction
  (so it measures queries, not one fsync per row).

Times cover parsing/fetching and writing; database setup and migrations are excluded.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "catalog.csv"
PATHS = ("sync", "import", "naive")


# -- one path, inside its own process ----------------------------------------------------


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "animender.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # As deployed: DEBUG keeps every SQL string, which would tax the naive path most.
    os.environ["DEBUG"] = "false"
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _serve_fake(csv_path: Path, urls: mp.Queue, stop: mp.Event) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.mal_server import FakeMal

    with FakeMal.from_csv(csv_path, extras=False) as fake:
        urls.put(fake.base_url)
        stop.wait()


def _run_sync(csv_path: Path) -> tuple[int, float]:
    from catalog.mal_client import MalClient
    from catalog.sync import catalog_sync
    from tests.fakes.mal_server import VALID_CLIENT_ID

    # The fake serves from its own process, like MAL: its JSON encoding is not our CPU time.
    urls, stop = mp.Queue(), mp.Event()
    server = mp.Process(target=_serve_fake, args=(csv_path, urls, stop), daemon=True)
    server.start()
    try:
        client = MalClient(
            base_url=urls.get(timeout=60),
            client_id=VALID_CLIENT_ID,
            request_interval=0,
            backoff_base=0.01,
            backoff_max=0.1,
        )
        started = time.perf_counter()
        run = catalog_sync(mode="full", client=client, resume=False)
        elapsed = time.perf_counter() - started
        client.close()
    finally:
        stop.set()
        server.join(10)
    print(f"  sync: {run.pages} pages, {run.requests} requests", file=sys.stderr)
    return run.titles_created + run.titles_updated, elapsed


def _run_import(csv_path: Path) -> tuple[int, float]:
    from catalog.services import catalog_import_csv

    started = time.perf_counter()
    counts = catalog_import_csv(path=csv_path)
    return counts.created + counts.updated, time.perf_counter() - started


def _run_naive(csv_path: Path) -> tuple[int, float]:
    from django.db import transaction

    from catalog.csv_import import parse_catalog_csv
    from catalog.models import Anime, Genre, Studio

    started = time.perf_counter()
    records = list(parse_catalog_csv(csv_path))
    with transaction.atomic():
        for rec in records:
            anime = Anime(
                mal_id=rec.mal_id,
                search_text=rec.search_text(),
                is_adult=bool(rec.is_adult()),
                **rec.values,
            )
            anime.save()
            anime.genres.set(
                [Genre.objects.get_or_create(name=g.name)[0] for g in rec.genres or []]
            )
            anime.studios.set(
                [Studio.objects.get_or_create(name=s.name)[0] for s in rec.studios or []]
            )
    return len(records), time.perf_counter() - started


def run_path(path: str, csv_path: Path, database_url: str) -> dict:
    _setup_django(database_url)
    from django.db import connection

    from catalog.models import Anime

    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    runner = {"sync": _run_sync, "import": _run_import, "naive": _run_naive}[path]
    with connection.execute_wrapper(count):
        titles, seconds = runner(csv_path)
    stored = Anime.objects.count()
    return {
        "path": path,
        "titles": titles,
        "stored": stored,
        "seconds": seconds,
        "titles_per_s": titles / seconds,
        "queries": queries,
        "vendor": connection.vendor,
    }


# -- driver ------------------------------------------------------------------------------


def _fresh_database(base_url: str | None, tmp: Path, path: str) -> tuple[str, Callable[[], None]]:
    if not base_url:
        return f"sqlite:///{tmp / f'{path}.sqlite3'}", lambda: None
    import psycopg

    name = f"animender_bench_{path}_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(base_url)
    admin = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')

    return urlunsplit(parts._replace(path=f"/{name}")), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: temporary SQLite)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma list of " + ",".join(PATHS))
    parser.add_argument("--_path", help=argparse.SUPPRESS)
    parser.add_argument("--_db", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._path:  # child process: one path, result as JSON on the last stdout line
        print(json.dumps(run_path(args._path, args.csv.resolve(), args._db)))
        return

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="animender-bench-") as tmp:
        for path in args.paths.split(","):
            db_url, drop = _fresh_database(args.database_url, Path(tmp), path)
            try:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--csv",
                        str(args.csv),
                        "--_path",
                        path,
                        "--_db",
                        db_url,
                    ],
                    check=True,
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                )
            finally:
                drop()
            results[path] = json.loads(out.stdout.strip().splitlines()[-1])

    print(f"\nCatalog write paths ({args.csv.name}, {next(iter(results.values()))['vendor']}):")
    print(f"{'path':<8} {'titles':>7} {'stored':>7} {'seconds':>8} {'titles/s':>9} {'queries':>8}")
    for r in results.values():
        print(
            f"{r['path']:<8} {r['titles']:>7} {r['stored']:>7} {r['seconds']:>8.2f} "
            f"{r['titles_per_s']:>9.0f} {r['queries']:>8}"
        )
    summary: dict = {
        "database": next(iter(results.values()))["vendor"],
        "csv": str(args.csv),
        "paths": results,
    }
    for path in PATHS:
        if path in results:
            summary[f"{path}_titles_per_s"] = round(results[path]["titles_per_s"], 1)
    if "naive" in results:
        naive = results["naive"]["titles_per_s"]
        if "import" in results:
            summary["speedup_vs_naive"] = round(results["import"]["titles_per_s"] / naive, 2)
        if "sync" in results:
            summary["sync_speedup_vs_naive"] = round(results["sync"]["titles_per_s"] / naive, 2)
        print(
            f"speedup vs naive: import {summary.get('speedup_vs_naive', '-')}x, "
            f"sync {summary.get('sync_speedup_vs_naive', '-')}x"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
