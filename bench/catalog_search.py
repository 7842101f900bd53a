"""Benchmark: catalog search latency and quality over the full catalog.

Runs without pytest and sets Django up itself on the database named by --database-url
(PostgreSQL is the target; a sqlite:/// URL works too). The database is migrated and,
when it does not hold the catalog yet, the CSV is imported (then ANALYZEd on PostgreSQL).

    flock /tmp/animender-bench.lock .venv/bin/python bench/catalog_search.py \
        --database-url postgres://postgres@127.0.0.1:5432/animender_bench \
        [--data ../shared/data] [--repeat 20] [--json OUT.json] [--show-first]

Each sample is what one search request costs the database layer: the page count plus
the first page of 24 titles with their genres and studios (``anime_search``, as the API
and the browse page call it). Queries: the real-query table of tests/catalog/test_search.py.
Peer in the same run: the previous search (every word a substring, ordered by score).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = 24


def _setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "animender.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DEBUG"] = "false"  # as deployed: no SQL log kept in memory
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _ensure_catalog(data: Path) -> int:
    from django.core.management import call_command
    from django.db import connection

    from catalog.models import Anime

    call_command("migrate", verbosity=0)
    if Anime.objects.count() < 13000:
        call_command("import_catalog", str(data), "--no-progress")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE catalog_anime")
    return Anime.objects.count()


def _ranked(q: str):
    from catalog.filters import AnimeSearchParams, Sort
    from catalog.selectors import anime_search

    return anime_search(params=AnimeSearchParams(q=q, sort=Sort.RELEVANCE), show_adult=False)


def _substring(q: str):
    """The search before ranking: every word a substring of the names, best score first."""
    from catalog.filters import AnimeSearchParams, Sort
    from catalog.records import normalize_name
    from catalog.selectors import anime_search

    qs = anime_search(params=AnimeSearchParams(sort=Sort.SCORE), show_adult=False)
    for term in normalize_name(q).split():
        qs = qs.filter(search_text__contains=term)
    return qs


PATHS = {"ranked": _ranked, "substring (before)": _substring}


def _one(search, q: str) -> tuple[float, int | None]:
    started = time.perf_counter()
    qs = search(q)
    qs.count()
    page = list(qs[:PAGE])
    return time.perf_counter() - started, (page[0].mal_id if page else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--show-first", action="store_true", help="print each query's first title per path"
    )
    args = parser.parse_args()
    _setup(args.database_url)
    from django.db import connection

    from tests.catalog.test_search import REAL_QUERIES

    titles = _ensure_catalog(args.data)
    results = {}
    for name, search in PATHS.items():
        for q, _ in REAL_QUERIES:  # warm caches and the connection
            _one(search, q)
        samples = []
        for _ in range(args.repeat):
            for q, _ in REAL_QUERIES:
                samples.append(_one(search, q)[0] * 1000)
        firsts = {q: _one(search, q)[1] for q, _ in REAL_QUERIES}
        hits = sum(firsts[q] == expected for q, expected in REAL_QUERIES)
        samples.sort()
        results[name] = {
            "p50_ms": round(statistics.median(samples), 2),
            "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 2),
            "max_ms": round(samples[-1], 2),
            "right_first": hits,
            "queries": len(REAL_QUERIES),
            "samples": len(samples),
            "first": firsts,
        }
    print(f"catalog search, {titles:,} titles, {connection.vendor}, {args.repeat} rounds")
    print(f"{'path':<20} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'right first':>12}")
    for name, r in results.items():
        right = f"{r['right_first']}/{r['queries']}"
        print(f"{name:<20} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['max_ms']:>8.2f} {right:>12}")
    if args.show_first:
        from catalog.models import Anime

        shown = {r for res in results.values() for r in res["first"].values()}
        shown |= {expected for _, expected in REAL_QUERIES}
        title = dict(Anime.objects.filter(mal_id__in=shown).values_list("mal_id", "title"))
        print(f"\n{'query':<34} {'expected first':<36} " + " ".join(f"{n:<36}" for n in results))
        for q, expected in REAL_QUERIES:
            cells = []
            for r in results.values():
                got = r["first"][q]
                mark = "ok" if got == expected else "--"
                cells.append(f"{mark} {got} {title.get(got, '')}"[:36].ljust(36))
            wanted = f"{expected} {title.get(expected, '')}"[:36]
            print(f"{q:<34} {wanted:<36} " + " ".join(cells))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"vendor": connection.vendor, "titles": titles, "results": results}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
