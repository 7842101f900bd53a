"""Benchmark: importing a member's MAL list (XML export and API) against one row at a time.

    .venv/bin/python bench/list_import.py [--csv ../shared/data/catalog.csv] [--entries 1000] \
        [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--json OUT.json]

One fresh, migrated database (a temporary SQLite file, or a temporary PostgreSQL database
created next to ``--database-url``'s and dropped), the catalog CSV imported once, then each
path for its own new member, timed from the bytes/HTTP to the rows committed:

- ``xml``: an export of N entries in MAL's exact format, gzipped, through
  ``import_run_start_xml`` (size checks, defusedxml parse) and the import task (eager);
- ``api``: ``import_run_start_mal`` (the one-request list check) and the task walking
  ``users/{name}/animelist`` on the fake MAL server (tests/fakes/mal_server.py, its own
  process, real HTTP, no pacing), N entries at up to 1000 per page;
- ``naive``: the same parsed entries written with one ``update_or_create`` per entry in one
  transaction (the obvious per-row path), the peer the ratios compare against.

Prints a table and writes JSON with ``xml_entries_per_s`` and ``api_entries_per_s``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "catalog.csv"
STATUSES = ("completed", "watching", "on_hold", "dropped", "plan_to_watch")
XML_STATUS = {
    "completed": "Completed",
    "watching": "Watching",
    "on_hold": "On-Hold",
    "dropped": "Dropped",
    "plan_to_watch": "Plan to Watch",
}


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "animender.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DEBUG"] = "false"  # as deployed: no per-query SQL log
    os.environ.pop("CELERY_BROKER_URL", None)  # the task runs in-process (eager)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _list_entries(ids: list[int]) -> list[dict]:
    return [
        {
            "mal_id": mal_id,
            "status": STATUSES[i % 5],
            "score": i % 11,  # 0 = not scored, as MAL writes it
            "episodes": i % 13,
        }
        for i, mal_id in enumerate(ids)
    ]


def _export_xml(entries: list[dict], titles: dict[int, str]) -> bytes:
    head = (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<!--\n Created by XML Export feature at '
        "MyAnimeList.net\n Version 1.1.0\n-->\n<myanimelist>\n\t<myinfo>\n"
        "\t\t<user_id>1234567</user_id>\n\t\t<user_name>bench_user</user_name>\n"
        f"\t\t<user_export_type>1</user_export_type>\n"
        f"\t\t<user_total_anime>{len(entries)}</user_total_anime>\n\t</myinfo>\n"
    )
    body = "".join(
        "\t<anime>\n"
        f"\t\t<series_animedb_id>{e['mal_id']}</series_animedb_id>\n"
        f"\t\t<series_title><![CDATA[{titles[e['mal_id']]}]]></series_title>\n"
        "\t\t<series_type>TV</series_type>\n\t\t<series_episodes>12</series_episodes>\n"
        f"\t\t<my_id>0</my_id>\n\t\t<my_watched_episodes>{e['episodes']}</my_watched_episodes>\n"
        "\t\t<my_start_date>0000-00-00</my_start_date>\n"
        "\t\t<my_finish_date>0000-00-00</my_finish_date>\n\t\t<my_rated></my_rated>\n"
        f"\t\t<my_score>{e['score']}</my_score>\n\t\t<my_storage></my_storage>\n"
        "\t\t<my_storage_value>0.00</my_storage_value>\n"
        f"\t\t<my_status>{XML_STATUS[e['status']]}</my_status>\n"
        "\t\t<my_comments><![CDATA[]]></my_comments>\n"
        "\t\t<my_times_watched>0</my_times_watched>\n\t\t<my_rewatch_value></my_rewatch_value>\n"
        "\t\t<my_priority>LOW</my_priority>\n\t\t<my_tags><![CDATA[]]></my_tags>\n"
        "\t\t<my_rewatching>0</my_rewatching>\n\t\t<my_rewatching_ep>0</my_rewatching_ep>\n"
        "\t\t<update_on_import>1</update_on_import>\n\t</anime>\n"
        for e in entries
    )
    return (head + body + "</myanimelist>\n").encode("utf-8")


def _serve_fake(csv_path: Path, entries: list[dict], urls: mp.Queue, stop) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.mal_server import FakeMal

    user = {
        "private": False,
        "entries": [
            {
                "anime_id": e["mal_id"],
                "list_status": {
                    "status": e["status"],
                    "score": e["score"],
                    "num_episodes_watched": e["episodes"],
                    "is_rewatching": False,
                    "updated_at": f"2024-01-01T00:00:{i % 60:02d}+00:00",
                },
            }
            for i, e in enumerate(entries)
        ],
    }
    with FakeMal.from_csv(csv_path, extras=False, users={"bench_user": user}) as fake:
        urls.put(fake.base_url)
        stop.wait()


def _new_user(name: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(name, f"{name}@example.com", "pw")


def run_xml(data: bytes) -> tuple[int, float]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.imports import import_run_start_xml

    user = _new_user(f"xml_{uuid.uuid4().hex[:6]}")
    started = time.perf_counter()
    run = import_run_start_xml(user=user, upload=SimpleUploadedFile("animelist.xml.gz", data))
    seconds = time.perf_counter() - started
    run.refresh_from_db()
    assert run.state == "done", run.error
    return run.created, seconds


def run_api(csv_path: Path, entries: list[dict]) -> tuple[int, float]:
    from django.conf import settings

    from accounts.imports import import_run_start_mal
    from tests.fakes.mal_server import VALID_CLIENT_ID

    urls, stop = mp.Queue(), mp.Event()
    server = mp.Process(target=_serve_fake, args=(csv_path, entries, urls, stop), daemon=True)
    server.start()
    try:
        settings.MAL_API_BASE_URL = urls.get(timeout=120)
        settings.MAL_CLIENT_ID = VALID_CLIENT_ID
        settings.MAL_REQUEST_INTERVAL_SECONDS = 0
        user = _new_user(f"api_{uuid.uuid4().hex[:6]}")
        started = time.perf_counter()
        run = import_run_start_mal(user=user, mal_username="bench_user")
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        server.join(10)
    run.refresh_from_db()
    assert run.state == "done", run.error
    return run.created, seconds


def run_naive(data: bytes) -> tuple[int, float]:
    from django.conf import settings
    from django.db import transaction

    from accounts.mal_export import parse_export
    from accounts.models import ListEntry

    user = _new_user(f"naive_{uuid.uuid4().hex[:6]}")
    started = time.perf_counter()
    parsed = parse_export(data, max_xml_bytes=settings.LIST_IMPORT_MAX_XML_BYTES)
    with transaction.atomic():
        for e in parsed.entries:
            ListEntry.objects.update_or_create(
                user=user,
                anime_id=e.mal_id,
                defaults={
                    "status": e.status,
                    "score": e.score,
                    "episodes_watched": e.episodes_watched,
                },
            )
    return len(parsed.entries), time.perf_counter() - started


def _database(base_url: str | None, tmp: Path):
    if not base_url:
        return f"sqlite:///{tmp / 'bench.sqlite3'}", lambda: None
    import psycopg

    name = f"animender_bench_list_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(base_url)
    admin = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')

    return urlunsplit(parts._replace(path=f"/{name}")), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: temporary SQLite)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    csv_path = args.csv.resolve()

    with tempfile.TemporaryDirectory(prefix="animender-bench-") as tmp:
        db_url, drop = _database(args.database_url, Path(tmp))
        try:
            _setup_django(db_url)
            from django.db import connection

            from catalog.models import Anime
            from catalog.services import catalog_import_csv

            catalog_import_csv(path=csv_path)
            # Spread over the catalog, not the first N ids: any title may be on a list.
            ids = list(Anime.objects.order_by("mal_id").values_list("mal_id", flat=True))
            step = max(len(ids) // args.entries, 1)
            picked = ids[::step][: args.entries]
            titles = dict(Anime.objects.filter(mal_id__in=picked).values_list("mal_id", "title"))
            entries = _list_entries(picked)
            data = gzip.compress(_export_xml(entries, titles))
            results = {}
            for name, runner in (
                ("xml", lambda: run_xml(data)),
                ("api", lambda: run_api(csv_path, entries)),
                ("naive", lambda: run_naive(data)),
            ):
                count, seconds = runner()
                results[name] = {
                    "entries": count,
                    "seconds": round(seconds, 4),
                    "entries_per_s": round(count / seconds, 1),
                }
            vendor = connection.vendor
        finally:
            drop()

    naive = results["naive"]["entries_per_s"]
    print(f"\nList import, {args.entries} entries, {vendor} ({len(data):,} bytes gzipped export)")
    print(f"{'path':<8}{'entries':>9}{'seconds':>10}{'entries/s':>12}{'vs naive':>10}")
    for name, r in results.items():
        ratio = r["entries_per_s"] / naive
        print(
            f"{name:<8}{r['entries']:>9}{r['seconds']:>10.3f}{r['entries_per_s']:>12,.0f}"
            f"{ratio:>9.1f}x"
        )
    out = {
        "vendor": vendor,
        "entries": args.entries,
        "xml_entries_per_s": results["xml"]["entries_per_s"],
        "api_entries_per_s": results["api"]["entries_per_s"],
        "naive_entries_per_s": naive,
        "paths": results,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
