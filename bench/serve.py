"""Serving latency: the recommendations endpoint under load, next to the catalog list.

    flock /tmp/animender-bench.lock .venv/bin/python bench/serve.py \
        --database-url postgres://postgres@127.0.0.1:5432/animender_bench \
        --data ../shared/data --json bench/results/serve.json

Sets up PostgreSQL with the shared data (catalog, ratings, trained engines) unless it is
already there, starts gunicorn (2 sync workers) on loopback, warms every worker, then a
bounded Python client sends a fixed number of requests with a fixed concurrency: first
to ``--endpoint`` (default ``POST /api/recommendations/`` with real users' lists from
the shared ratings), then to the catalog list (``GET /api/anime/``) as the peer measured
in the same run. Prints a table and writes JSON: the endpoint's
``{"rps", "p50_ms", "p95_ms", "p99_ms", "errors"}`` at the top level, the catalog list's
under ``"catalog_list"``. No Django import here: the server is a separate process.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def _manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def _ensure_database(url: str) -> None:
    """Create the database named in ``url`` if the server does not have it yet."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup(env: dict, data: Path, engines: list[str]) -> dict:
    """Migrate, import the shared data and train the engines, each only if missing."""
    _manage(env, "migrate", "--noinput", "-v0")
    probe = (
        "import json; from catalog.models import Anime; "
        "from recommender.models import CommunityRating; "
        "from recommender.ml import artifacts; from django.conf import settings; "
        "print(json.dumps({'titles': Anime.objects.count(), "
        "'ratings': CommunityRating.objects.count(), "
        "'versions': {e: artifacts.current_version(settings.MODEL_DIR, e) "
        f"for e in {engines!r}}}}}))"
    )
    state = json.loads(_manage(env, "shell", "-c", probe).strip().splitlines()[-1])
    if not state["titles"]:
        print("importing the catalog ...", file=sys.stderr)
        _manage(env, "import_catalog", str(data), "--no-progress")
    if not state["ratings"]:
        print("importing the ratings ...", file=sys.stderr)
        _manage(env, "import_ratings", str(data / "ratings.csv.gz"))
    for engine in engines:
        if not state["versions"].get(engine):
            print(f"training {engine} ...", file=sys.stderr)
            _manage(env, "train_models", "--engine", engine)
    return json.loads(_manage(env, "shell", "-c", probe).strip().splitlines()[-1])


def user_lists(data: Path, users: int, seed: int) -> list[list[dict]]:
    """``users`` real watched lists (``{"mal_id", "score"}``) drawn from the ratings."""
    path = data / "ratings.csv.gz"
    opener = gzip.open if path.exists() else open
    path = path if path.exists() else data / "ratings.csv"
    lists: dict[str, list[dict]] = {}
    with opener(path, "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            score = int(row["rating"])  # -1: watched, not scored -> null in the API
            lists.setdefault(row["user_id"], []).append(
                {"mal_id": int(row["anime_id"]), "score": score if score > 0 else None}
            )
    names = sorted(lists)
    random.Random(seed).shuffle(names)
    return [lists[n] for n in names[:users]]


MEMBERS_SCRIPT = """
import json, os
from django.contrib.auth import get_user_model
from accounts.models import ListEntry
from accounts.services import api_token_create
from catalog.models import Anime
from recommender.personal.services import recommendations_refresh_request

lists = json.load(open(os.environ["BENCH_MEMBER_LISTS"]))
known = set(Anime.objects.values_list("mal_id", flat=True))
keys = []
for i, entries in enumerate(lists):
    user, created = get_user_model().objects.get_or_create(username=f"bench-member-{i}")
    if created:
        ListEntry.objects.bulk_create(
            ListEntry(user=user, anime_id=e["mal_id"], status="completed",
                      score=e["score"])
            for e in entries if e["mal_id"] in known
        )
    # No broker in the bench environment: the refresh runs here, in-process.
    recommendations_refresh_request(user_id=user.pk, trigger="bench")
    keys.append(api_token_create(user=user, name="bench serve")[1])
print(json.dumps(keys))
"""


def member_tokens(env: dict, var_dir: Path, lists: list[list[dict]]) -> list[str]:
    """One signed-up member per list (their list imported, recommendations stored by a
    refresh, as after a MAL import) and an API token each."""
    path = var_dir / "member_lists.json"
    path.write_text(json.dumps(lists))
    out = _manage({**env, "BENCH_MEMBER_LISTS": str(path)}, "shell", "-c", MEMBERS_SCRIPT)
    return json.loads(out.strip().splitlines()[-1])


class Server:
    """gunicorn on loopback, stopped with its whole process group."""

    def __init__(self, env: dict, port: int, workers: int, log: Path):
        self.port = port
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            [
                str(Path(PYTHON).parent / "gunicorn"),
                "animender.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--timeout",
                "120",
            ],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/api/engines/")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.3)
        raise SystemExit("gunicorn did not answer in time")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def drive(
    port: int,
    method: str,
    paths: list[str],
    bodies: list[bytes | None],
    n: int,
    concurrency: int,
    headers: dict[str, str],
    per_request: list[dict[str, str]] | None = None,
) -> dict:
    """Send exactly ``n`` requests from ``concurrency`` keep-alive connections (closed
    loop: each sends its next request when the previous answer is read)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = bodies[i % len(bodies)]
            hdrs = {**headers, **({"Content-Type": "application/json"} if body else {})}
            if per_request:
                hdrs.update(per_request[i % len(per_request)])
            started = time.perf_counter()
            try:
                conn.request(method, paths[i % len(paths)], body=body, headers=hdrs)
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 300
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                ok, status = False, type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors.append(str(status))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, max(0, round(p / 100 * len(ms)) - 1))], 2)

    return {
        "rps": round(len(ms) / wall, 1),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "errors": len(errors),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(ms[-1], 2),
        "requests": len(ms),
        "error_statuses": sorted(set(errors))[:10],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="postgres://... (created if absent)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--var-dir", type=Path, default=REPO / "var" / "bench-serve")
    parser.add_argument("--port", type=int, default=8661)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=2, help="client connections")
    parser.add_argument("--warmup", type=int, default=40, help="unmeasured requests first")
    parser.add_argument("--endpoint", default="/api/recommendations/")
    parser.add_argument("--method", default="POST", choices=["POST", "GET"])
    parser.add_argument(
        "--engine",
        default="hybrid",
        help="engine named in POST bodies (and trained); the API default",
    )
    parser.add_argument("--n", type=int, default=20, help="titles asked per request")
    parser.add_argument("--users", type=int, default=500, help="distinct users' lists to send")
    parser.add_argument(
        "--header", action="append", default=[], help="extra 'Name: value' header (auth)"
    )
    parser.add_argument(
        "--members",
        type=int,
        default=0,
        help="sign up this many members (real lists, stored recommendations, a token each) "
        "and drive GET /api/me/recommendations/ as them, rotating",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="where to write the results")
    args = parser.parse_args(argv)

    args.var_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "ANIMENDER_VAR_DIR": str(args.var_dir),
        "ANIMENDER_MODEL_DIR": str(args.var_dir / "models"),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The load comes from one loopback address and a few members: measure the
        # serving cost, not the throttles (their 429s are tested in the suite).
        "RECOMMENDATIONS_ANON_RATE": "1000000/minute",
        "API_ME_THROTTLE_RATE": "1000000/minute",
    }
    env.pop("CELERY_BROKER_URL", None)
    _ensure_database(args.database_url)
    state = setup(env, args.data, [args.engine])
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}

    lists = user_lists(args.data, args.users, args.seed)
    member_headers = None
    if args.members:
        print(f"signing up {args.members} members ...", file=sys.stderr)
        keys = member_tokens(env, args.var_dir, lists[: args.members])
        member_headers = [{"Authorization": f"Bearer {k}"} for k in keys]
        args.method, args.endpoint = "GET", "/api/me/recommendations/"
    if args.method == "POST":
        bodies: list[bytes | None] = [
            json.dumps({"engine": args.engine, "n": args.n, "entries": e}).encode() for e in lists
        ]
        paths = [args.endpoint]
    else:
        bodies, paths = [None], [f"{args.endpoint}?limit={args.n}"]
    rng = random.Random(args.seed)
    sorts = ["score", "popularity", "newest", "title"]
    catalog_paths = [
        f"/api/anime/?page={rng.randint(1, 100)}&sort={rng.choice(sorts)}" for _ in range(500)
    ]

    server = Server(env, args.port, args.workers, args.var_dir / "gunicorn.log")
    try:
        server.wait_ready()
        # Every worker loads its model and the franchise index before measuring.
        drive(
            args.port,
            args.method,
            paths,
            bodies,
            args.warmup,
            args.workers * 2,
            headers,
            member_headers,
        )
        drive(args.port, "GET", catalog_paths, [None], args.warmup, args.workers * 2, headers)
        recs = drive(
            args.port,
            args.method,
            paths,
            bodies,
            args.requests,
            args.concurrency,
            headers,
            member_headers,
        )
        catalog = drive(
            args.port, "GET", catalog_paths, [None], args.requests, args.concurrency, headers
        )
    finally:
        server.stop()

    result = {
        **{k: recs[k] for k in ("rps", "p50_ms", "p95_ms", "p99_ms", "errors")},
        "endpoint": f"{args.method} {args.endpoint}",
        "detail": recs,
        "catalog_list": catalog,
        "p95_vs_catalog_list": round(recs["p95_ms"] / max(catalog["p95_ms"], 1e-9), 2),
        "meta": {
            "engine": args.engine,
            "n": args.n,
            "users": args.members or len(lists),
            "mean_list_length": round(statistics.fmean(len(e) for e in lists), 1),
            "requests": args.requests,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "data": state,
            "target": {"p95_ms": 50, "errors": 0},
            # The machine is shared: a high load average means inflated latencies.
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "cpu_count": os.cpu_count(),
        },
    }
    rows = [("endpoint", result["endpoint"]), ("GET /api/anime/", "")]
    print(f"{'endpoint':32} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for (label, _), r in zip(rows, (recs, catalog), strict=True):
        name = result["endpoint"] if label == "endpoint" else label
        print(
            f"{name:32} {r['rps']:8.1f} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} "
            f"{r['p99_ms']:8.2f} {r['errors']:7d}"
        )
    verdict = "met" if recs["p95_ms"] <= 50 and recs["errors"] == 0 else "MISSED"
    print(f"target p95 <= 50 ms, 0 errors: {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
