"""Benchmark: how every engine's fit time and memory grow with MAL-shaped data.

    flock /tmp/animender-bench.lock .venv/bin/python bench/scale.py --sizes 0.5M,5M \\
        --root /tmp/animender-scale --json bench/results/scale.json \\
        --database-url postgres://postgres@127.0.0.1/animender_scale_bench \\
        --plot bench/results/scale.png

For each size (data from ``bench/synth.py`` under ``ROOT/<size>``, generated when
missing) it measures, each step in its own child process:

* ``import``: ``community_ratings_import`` (what ``manage.py import_ratings`` runs) into an
  emptied table of the given PostgreSQL database: rows/s and the child's peak RSS;
* ``read``: ``community_interactions_arrays`` back out of it: rows/s and peak RSS;
* ``fit`` of each engine on the file's matrix (the hybrid included, with its served
  settings: it fits every component twice): wall and CPU seconds, peak RSS during the fit
  (the kernel's high-water mark, reset just before ``fit`` through
  ``/proc/self/clear_refs``; it includes the resident input matrix), and top-N ms for
  single users afterwards.

A watchdog polls each child's RSS and kills it past ``--max-rss-gb`` or
``--time-limit-s``; the table then says where and why the engine stopped (Surprise's
KNNBaseline is expected to: five dense item x item float64 arrays). A failed or killed
child stops that engine for larger sizes too; ``stops`` in the JSON and the lines under
the table say where and why, and whether the limit was this session's own cap (below the
benchmark's 20 GB / 30 minutes) or the benchmark's. Medians and spreads are over
``--repeats`` runs. The growth exponent k of each engine (time ~ rows^k, memory ~ rows^k)
is the least-squares slope over the sizes it finished, printed and drawn on a log-log plot.

Runs without Django in this process; the import/read children set Django up themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import synth  # noqa: E402

ENGINES = (
    "knn_baseline",
    "watchlist_nn",
    "ease",
    "ease_f32_10k",
    "als",
    "hybrid",
    "surprise_knnbaseline",
)
# What each engine learns from: 'explicit' = 1-10 scores only, 'binary' = every row as 1,
# 'scored' = every row with its score, -1 where unscored (the hybrid's input).
MATRIX = {
    "hybrid": "scored",
    "knn_baseline": "explicit",
    "surprise_knnbaseline": "explicit",
    "watchlist_nn": "binary",
    "ease": "binary",
    "ease_f32_10k": "binary",
    "als": "binary",
}
# Issue 11's limits for an engine's fit; --max-rss-gb / --time-limit-s below them make a
# stop "the session's cap", said so in the table and JSON.
TARGET_RSS_GB, TARGET_TIME_S = 20.0, 1800.0
TOPN_USERS = {"surprise_knnbaseline": 3}  # its top-N loops predict() over every title
DEFAULT_TOPN_USERS = 50


def _mb(kib: float) -> float:
    return kib / 1024.0


def _status_kib(field: str, pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    return 0.0


def _reset_peak() -> bool:
    """Reset this process's VmHWM (Linux >= 4.0); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# -- children ------------------------------------------------------------------------


def _make_model(engine: str):
    from recommender.ml import baselines

    if engine == "knn_baseline":
        from recommender.ml.knn_baseline import KNNBaseline

        return KNNBaseline(k=40, shrinkage=100)
    if engine == "watchlist_nn":
        from recommender.ml.watchlist_nn import WatchlistNN

        return WatchlistNN()
    if engine == "ease":
        return baselines.EASE(lam=200.0)
    if engine == "ease_f32_10k":
        return baselines.EASE(lam=200.0, max_items=10_000, dtype="float32")
    if engine == "als":
        return baselines.ALS(factors=64)
    if engine == "hybrid":
        # The served settings (evaluation.hybrid_model): its watch-list network keeps its
        # default example budget, EASE every title in float64 (17k titles: ~3.5 GB).
        from recommender.ml.evaluation import hybrid_model

        return hybrid_model(seed=0)
    if engine == "surprise_knnbaseline":
        # Surprise's defaults are the reference settings: pearson_baseline, shrinkage 100,
        # k 40, min_k 1, ALS baselines (reg_i 10, reg_u 15, 10 epochs).
        return baselines.SurpriseKNNBaseline()
    raise ValueError(f"unknown engine {engine!r}")


def _load_matrix(directory: str, kind: str):
    import pandas as pd

    from recommender.ml.data import ratings_from_frame

    frame = pd.read_csv(
        Path(directory) / "ratings.csv.gz",
        dtype={"user_id": np.int32, "anime_id": np.int32, "rating": np.int8},
    )
    ratings = ratings_from_frame(frame)
    del frame
    if kind == "explicit":
        ratings = ratings.explicit()
        return ratings, ratings.matrix("score")
    return ratings, ratings.matrix("score" if kind == "scored" else "binary")


def child_fit(engine: str, directory: str, seed: int) -> dict:
    import gc
    import inspect

    ratings, x = _load_matrix(directory, MATRIX[engine])
    gc.collect()
    data_mb = _mb(_status_kib("VmRSS"))
    exact_peak = _reset_peak()
    model = _make_model(engine)
    # CPU seconds beside wall seconds: on a shared machine (or a paused child) wall time
    # says more about the neighbours than about the engine.
    t0, cpu0 = time.perf_counter(), time.process_time()
    model.fit(x)
    fit_s = time.perf_counter() - t0
    fit_cpu_s = time.process_time() - cpu0
    peak_mb = _mb(_status_kib("VmHWM"))

    rng = np.random.default_rng(seed)
    active = np.flatnonzero(np.diff(x.indptr) > 0)
    users = rng.choice(active, size=min(len(active), TOPN_USERS.get(engine, 50)), replace=False)
    takes_users = "users" in inspect.signature(model.recommend).parameters
    times = []
    for u in users:
        row = x[int(u)]
        kwargs = {"users": np.array([u])} if takes_users else {}
        t0 = time.perf_counter()
        model.recommend(row, n=10, **kwargs)
        times.append((time.perf_counter() - t0) * 1000.0)
    return {
        "fit_s": fit_s,
        "fit_cpu_s": fit_cpu_s,
        "peak_mb": peak_mb,
        "data_mb": data_mb,
        "peak_is_fit_only": exact_peak,
        "topn_ms_median": float(np.median(times)),
        "topn_ms_p95": float(np.percentile(times, 95)),
        "topn_users": len(times),
        "matrix_nnz": int(x.nnz),
        "matrix_shape": list(x.shape),
    }


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "animender.settings")
    import django

    django.setup()


def child_import(directory: str) -> dict:
    _django()
    from django.core.management import call_command
    from django.db import connection

    from catalog.models import Anime
    from recommender.engines.ratings_import import community_ratings_import
    from recommender.models import CommunityRating

    catalog_rows = sum(1 for _ in open(Path(directory) / "catalog.csv", "rb")) - 1
    if Anime.objects.count() < catalog_rows:  # a rough check; the import upserts anyway
        call_command("import_catalog", directory, "--no-progress")
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {CommunityRating._meta.db_table}")
    _reset_peak()
    t0 = time.perf_counter()
    result = community_ratings_import(path=directory)
    seconds = time.perf_counter() - t0
    return {
        "rows": result.rows,
        "seconds": seconds,
        "rows_per_s": result.rows / seconds,
        "peak_mb": _mb(_status_kib("VmHWM")),
        "database": connection.vendor,
    }


def child_read() -> dict:
    _django()
    from recommender.engines.training_data import community_interactions_arrays

    _reset_peak()
    base_mb = _mb(_status_kib("VmRSS"))
    t0 = time.perf_counter()
    arrays = community_interactions_arrays()
    seconds = time.perf_counter() - t0
    return {
        "rows": len(arrays),
        "seconds": seconds,
        "rows_per_s": len(arrays) / seconds,
        "peak_mb": _mb(_status_kib("VmHWM")),
        "base_mb": base_mb,
        "array_mb": (arrays.users.nbytes + arrays.anime.nbytes + arrays.scores.nbytes) / 2**20,
    }


# -- parent --------------------------------------------------------------------------


def run_child(args: list[str], max_rss_mb: float, time_limit_s: float, env: dict) -> dict:
    """Run ``scale.py --child ...`` under :func:`watch`."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    return watch(cmd, max_rss_mb, time_limit_s, env)


def watch(cmd: list[str], max_rss_mb: float, time_limit_s: float, env: dict | None = None) -> dict:
    """Run ``cmd``; kill it past the RSS or time limit; parse its last JSON stdout line.

    Returns that JSON plus ``status`` ('ok', 'killed_rss', 'timeout', 'failed'),
    ``watchdog_peak_mb`` (the largest RSS seen, polled every 0.2 s) and ``wall_s``.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    # Pipes are drained only after exit: children print one JSON line and little else.
    seen_mb, status = 0.0, "ok"
    while proc.poll() is None:
        try:
            seen_mb = max(seen_mb, _mb(_status_kib("VmRSS", proc.pid)))
        except (FileNotFoundError, ProcessLookupError):
            pass
        elapsed = time.perf_counter() - started
        if seen_mb > max_rss_mb or elapsed > time_limit_s:
            status = "killed_rss" if seen_mb > max_rss_mb else "timeout"
            proc.kill()
            break
        time.sleep(0.2)
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    result: dict = {"status": status, "watchdog_peak_mb": seen_mb, "wall_s": wall}
    if status == "ok":
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = err.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            result.update(status="failed", reason=tail[0][:300])
        else:
            result.update(json.loads(lines[-1]))
    elif status == "killed_rss":
        result["reason"] = f"RSS passed {max_rss_mb / 1024:.1f} GB after {wall:.0f} s"
    else:
        result["reason"] = f"ran past {time_limit_s:.0f} s"
    return result


def stop_reason(run: dict, max_rss_gb: float, time_limit_s: float) -> str:
    """Why a fit stopped, saying when the limit that stopped it was this session's own
    cap rather than the benchmark's (20 GB, 30 minutes)."""
    reason = run.get("reason", "")
    if run["status"] == "killed_rss" and max_rss_gb < TARGET_RSS_GB:
        reason += f" (the session's cap; the benchmark's limit is {TARGET_RSS_GB:g} GB)"
    elif run["status"] == "timeout" and time_limit_s < TARGET_TIME_S:
        reason += f" (the session's cap; the benchmark's limit is {TARGET_TIME_S:.0f} s)"
    return reason


def _summary(runs: list[dict], key: str) -> dict | None:
    values = [r[key] for r in runs if r.get("status") == "ok" and key in r]
    if not values:
        return None
    return {
        "median": float(np.median(values)),
        "min": float(np.min(values)),
        "max": float(np.max(values)),
        "n": len(values),
    }


def growth_exponent(rows: list[float], values: list[float]) -> float | None:
    """Least-squares slope of log(value) on log(rows); None with fewer than two sizes."""
    if len(rows) < 2:
        return None
    return float(np.polyfit(np.log(rows), np.log(values), 1)[0])


def plot(payload: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, key, label in ((axes[0], "fit_s", "fit seconds"), (axes[1], "peak_mb", "peak MB")):
        for engine, by_size in payload["fits"].items():
            pts = [
                (s["rows"], s[key]["median"])
                for s in by_size.values()
                if s.get(key) and s["status"] == "ok"
            ]
            stopped = [s for s in by_size.values() if s["status"] != "ok"]
            k = payload["exponents"].get(engine, {}).get(key)
            name = f"{engine} (k={k:.2f})" if k is not None else engine
            if pts:
                xs, ys = zip(*sorted(pts), strict=True)
                (line,) = ax.plot(xs, ys, "o-", label=name)
                for s in stopped:
                    ax.annotate(
                        f"stopped: {s['status']}",
                        (s["rows"], ys[-1]),
                        color=line.get_color(),
                        fontsize=8,
                    )
                    ax.plot([s["rows"]], [ys[-1]], "x", color=line.get_color(), ms=10)
        if key == "fit_s":  # the import next to the fits: the same axis, seconds
            for name in ("import", "read"):
                done = sorted(
                    (v["rows"], v["rows"] / v["rows_per_s"]["median"])
                    for v in payload[name].values()
                    if v.get("rows_per_s")
                )
                k = payload["exponents"].get(name, {}).get("seconds")
                if done:
                    xs, ys = zip(*done, strict=True)
                    line_label = f"{name} to/from PostgreSQL" + (f" (k={k:.2f})" if k else "")
                    ax.plot(
                        xs,
                        ys,
                        "s--",
                        color="grey" if name == "import" else "black",
                        label=line_label,
                        alpha=0.7,
                    )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("ratings (rows)")
        ax.set_ylabel(label)
        ax.set_title(f"{label} vs rows (k = growth exponent)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(payload["meta"]["title"], fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _sum_up(entry: dict, runs: list[dict]) -> None:
    """A fit's medians and spreads over its ``runs``, stored on ``entry`` with the runs."""
    for key in ("fit_s", "fit_cpu_s", "peak_mb", "topn_ms_median"):
        entry[key] = _summary(runs, key)
    entry["runs"] = runs


def _fmt(summary: dict | None, digits: int = 1) -> str:
    if not summary:
        return "-"
    spread = summary["max"] - summary["min"]
    if summary["n"] > 1:
        return f"{summary['median']:.{digits}f}±{abs(spread) / 2:.{digits}f}"
    return f"{summary['median']:.{digits}f}"


def _repeats(spec: str) -> dict[str, int]:
    """'watchlist_nn=1,15M=1' -> {'watchlist_nn': 1, '15M': 1}."""
    return {k: int(v) for k, v in (kv.split("=") for kv in spec.split(",") if kv)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="0.5M,5M")
    parser.add_argument("--root", default="/tmp/animender-scale", help="synthetic data folders")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--repeats-for",
        default="",
        help="repeats per engine or size (an engine's wins), e.g. watchlist_nn=1,5M=1",
    )
    parser.add_argument("--max-rss-gb", type=float, default=20.0)
    parser.add_argument("--time-limit-s", type=float, default=1800.0)
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL for the import/read steps (emptied!)"
    )
    parser.add_argument("--import-sizes", default=None, help="sizes to import (default: --sizes)")
    parser.add_argument("--import-repeats", type=int, default=3)
    parser.add_argument("--import-repeats-for", default="", help="per size, e.g. 15M=1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--plot", default=None)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the --json file's figures; run only the steps it lacks or that failed",
    )
    args = parser.parse_args()

    if args.child:
        mode, *rest = args.child
        if mode == "fit":
            out = child_fit(rest[0], rest[1], int(rest[2]))
        elif mode == "import":
            out = child_import(rest[0])
        else:
            out = child_read()
        print(json.dumps(out))
        return

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    import_sizes = [s.strip() for s in (args.import_sizes or args.sizes).split(",") if s.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    repeats_for = _repeats(args.repeats_for)
    max_rss_mb = args.max_rss_gb * 1024.0
    env = dict(os.environ)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    meta = {
        "title": (
            f"Animender scale: {platform.node()} ({os.cpu_count()} CPUs, "
            f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GB), "
            f"watchdog {args.max_rss_gb:g} GB / {args.time_limit_s:.0f} s"
        ),
        "cpus": os.cpu_count(),
        "max_rss_gb": args.max_rss_gb,
        "time_limit_s": args.time_limit_s,
        "loadavg_start": os.getloadavg(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    # stops: the engines that did not finish every size, where and why.
    payload: dict = {
        "meta": meta,
        "data": {},
        "import": {},
        "read": {},
        "fits": {},
        "stops": {},
    }
    if args.resume and args.json and Path(args.json).exists():
        # A step that failed (a crash fixed since, a lifted cap) runs again; finished
        # steps keep their figures, and the table, exponents and plot cover both.
        payload = json.loads(Path(args.json).read_text())
        payload["meta"].setdefault("resumed", []).append(meta)
        meta = payload["meta"]
        for by_size in payload["fits"].values():
            for entry in by_size.values():  # a run stopped between a step's repeats
                if entry["status"] == "ok" and entry.get("runs") and "fit_s" not in entry:
                    _sum_up(entry, entry["runs"])

    def save() -> None:  # after every step: a killed or interrupted run keeps its figures
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(payload, indent=2))

    all_sizes = list(dict.fromkeys([*sizes, *import_sizes]))
    for size in all_sizes:
        directory = Path(args.root) / size
        if not (directory / "ratings.csv.gz").exists():
            print(f"[{size}] generating {directory}", flush=True)
            synth.generate(synth.parse_size(size), directory, seed=args.seed)
        info = json.loads((directory / "synth.json").read_text())
        payload["data"][size] = {k: info[k] for k in ("rows", "users", "titles", "seconds")}

    if args.database_url:
        for size in import_sizes:
            if size in payload["import"]:
                continue  # resumed: imported already
            directory = str(Path(args.root) / size)
            runs = []
            n_runs = _repeats(args.import_repeats_for).get(size, args.import_repeats)
            for _ in range(n_runs):
                runs.append(run_child(["import", directory], max_rss_mb, args.time_limit_s, env))
                print(f"[{size}] import {runs[-1]}", flush=True)
                save()
            reads = []
            for _ in range(n_runs):
                reads.append(run_child(["read"], max_rss_mb, args.time_limit_s, env))
                print(f"[{size}] read {reads[-1]}", flush=True)
                save()
            payload["import"][size] = {
                "rows": payload["data"][size]["rows"],
                "rows_per_s": _summary(runs, "rows_per_s"),
                "peak_mb": _summary(runs, "peak_mb"),
                "runs": runs,
            }
            payload["read"][size] = {
                "rows": payload["data"][size]["rows"],
                "rows_per_s": _summary(reads, "rows_per_s"),
                "peak_mb": _summary(reads, "peak_mb"),
                "runs": reads,
            }

    for engine in engines:
        done = payload["fits"].setdefault(engine, {})
        stopped = None
        for size in sizes:
            entry = {"rows": payload["data"][size]["rows"], "status": "ok"}
            if done.get(size, {}).get("status") == "ok":
                continue  # resumed: this fit has its figures
            if payload["stops"].get(engine, {}).get("size") == size:
                del payload["stops"][engine]  # running that step again
            if stopped:
                entry.update(status="not_run", reason=f"stopped at a smaller size: {stopped}")
                payload["fits"][engine][size] = entry
                continue
            runs = []
            n_runs = repeats_for.get(engine, repeats_for.get(size, args.repeats))
            for _ in range(n_runs):
                directory = str(Path(args.root) / size)
                run = run_child(
                    ["fit", engine, directory, str(args.seed)], max_rss_mb, args.time_limit_s, env
                )
                runs.append(run)
                print(f"[{size}] {engine} {run}", flush=True)
                payload["fits"][engine][size] = {**entry, "runs": runs}
                save()
                if run["status"] != "ok":
                    reason = stop_reason(run, args.max_rss_gb, args.time_limit_s)
                    stopped = f"{size}: {run['status']} ({reason})"
                    entry.update(status=run["status"], reason=reason)
                    payload["stops"][engine] = {
                        "size": size,
                        "rows": entry["rows"],
                        "status": run["status"],
                        "reason": reason,
                        "watchdog_peak_mb": run.get("watchdog_peak_mb"),
                        "wall_s": run.get("wall_s"),
                    }
                    break
            _sum_up(entry, runs)
            payload["fits"][engine][size] = entry
            save()

    exponents = {}
    for engine, by_size in payload["fits"].items():
        ok = [s for s in by_size.values() if s["status"] == "ok" and s.get("fit_s")]
        rows = [s["rows"] for s in ok]
        exponents[engine] = {
            key: growth_exponent(rows, [s[key]["median"] for s in ok])
            for key in ("fit_s", "peak_mb")
        }
    for name in ("import", "read"):
        sizes_done = [s for s in payload[name].values() if s.get("rows_per_s")]
        exponents[name] = {
            "seconds": growth_exponent(
                [s["rows"] for s in sizes_done],
                [s["rows"] / s["rows_per_s"]["median"] for s in sizes_done],
            )
        }
    payload["exponents"] = exponents
    meta["loadavg_end"] = os.getloadavg()

    all_sizes = sorted(payload["data"], key=lambda z: payload["data"][z]["rows"])
    engines = list(dict.fromkeys([*payload["fits"], *engines]))
    print()
    print(
        f"{'size':>6} {'step':<22}{'status':<11}{'seconds':>14}{'peak MB':>14}{'top-N ms':>12}"
        f"{'CPU s':>12}"
    )
    for size in all_sizes:
        for name in ("import", "read"):
            s = payload[name].get(size)
            if s and s["rows_per_s"]:
                secs = {k: s["rows"] / v for k, v in s["rows_per_s"].items() if k != "n"}
                secs["n"] = s["rows_per_s"]["n"]
                print(
                    f"{size:>6} {name:<22}{'ok':<11}{_fmt(secs):>14}{_fmt(s['peak_mb'], 0):>14}"
                    f"{'':>12}  {s['rows_per_s']['median']:,.0f} rows/s"
                )
        for engine in engines:
            e = payload["fits"][engine].get(size)
            if not e:
                continue
            print(
                f"{size:>6} {engine:<22}{e['status']:<11}{_fmt(e.get('fit_s')):>14}"
                f"{_fmt(e.get('peak_mb'), 0):>14}{_fmt(e.get('topn_ms_median'), 2):>12}"
                f"{_fmt(e.get('fit_cpu_s')):>12}" + (f"  {e['reason']}" if e.get("reason") else "")
            )
    print()
    for engine in engines:
        stop = payload["stops"].get(engine)
        where = f"stopped at {stop['size']}: {stop['reason']}" if stop else "finished every size"
        print(f"{engine:<22}{where}")
    print()
    for engine, k in exponents.items():
        parts = [f"{key}~rows^{v:.2f}" for key, v in k.items() if v is not None]
        print(f"growth {engine:<22}{'  '.join(parts) or '(fewer than two sizes)'}")

    save()
    if args.plot:
        plot(payload, args.plot)


if __name__ == "__main__":
    main()
