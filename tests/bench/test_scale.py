"""bench/scale.py: the watchdog that stops a child for memory or time, and the exponents."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from bench import scale


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_watchdog_returns_the_childs_json():
    got = scale.watch(_python('print("noise"); print(\'{"fit_s": 1.5}\')'), 500, 30)
    assert got["status"] == "ok" and got["fit_s"] == 1.5


def test_watchdog_kills_a_child_past_the_memory_cap():
    hog = "import numpy, time; a = numpy.ones(60_000_000); time.sleep(30)"  # ~460 MB
    got = scale.watch(_python(hog), max_rss_mb=150, time_limit_s=25)
    assert got["status"] == "killed_rss"
    assert "RSS passed 0.1 GB" in got["reason"]
    assert got["watchdog_peak_mb"] > 150 and got["wall_s"] < 20


def test_watchdog_kills_a_child_past_the_time_limit():
    got = scale.watch(_python("import time; time.sleep(30)"), max_rss_mb=500, time_limit_s=1)
    assert got["status"] == "timeout" and "ran past 1 s" in got["reason"]
    assert got["wall_s"] < 10


def test_failed_child_reports_its_last_error_line():
    got = scale.watch(_python("raise MemoryError('Unable to allocate 2.3 GiB')"), 500, 30)
    assert got["status"] == "failed"
    assert got["reason"] == "MemoryError: Unable to allocate 2.3 GiB"


def test_growth_exponent_is_the_log_log_slope():
    rows = [5e5, 5e6, 1.5e7]
    assert scale.growth_exponent(rows, [2 * r**1.3 for r in rows]) == pytest.approx(1.3)
    assert scale.growth_exponent([5e5], [1.0]) is None
    assert np.isfinite(scale.growth_exponent(rows, [3.0, 2.0, 9.0]))


def test_a_stop_under_this_sessions_cap_says_so():
    rss = {"status": "killed_rss", "reason": "RSS passed 6.0 GB after 40 s"}
    assert scale.stop_reason(rss, max_rss_gb=6, time_limit_s=1800) == (
        "RSS passed 6.0 GB after 40 s (the session's cap; the benchmark's limit is 20 GB)"
    )
    assert scale.stop_reason(rss, max_rss_gb=20, time_limit_s=1800) == rss["reason"]
    slow = {"status": "timeout", "reason": "ran past 600 s"}
    assert "the benchmark's limit is 1800 s" in scale.stop_reason(slow, 20, 600)
    assert scale.stop_reason(slow, 20, 1800) == "ran past 600 s"


def test_every_engine_has_a_matrix_and_a_model():
    assert "hybrid" in scale.ENGINES
    for engine in scale.ENGINES:
        assert scale.MATRIX[engine] in ("explicit", "binary", "scored")
        assert hasattr(scale._make_model(engine), "fit")


def test_resume_keeps_finished_fits_and_reruns_failed_ones(tmp_path):
    import json
    import subprocess

    out = tmp_path / "scale.json"
    cmd = [sys.executable, str(scale.ROOT / "bench" / "scale.py"), "--sizes", "20k"]
    cmd += ["--root", str(tmp_path / "data"), "--repeats", "1", "--json", str(out)]
    first = subprocess.run([*cmd, "--engines", "als"], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    payload = json.loads(out.read_text())
    als = payload["fits"]["als"]["20k"]
    assert als["status"] == "ok"
    # As if EASE had crashed there (the OpenBLAS potrf bug): resume runs it again, keeps ALS.
    payload["fits"]["ease"] = {"20k": {"rows": als["rows"], "status": "failed"}}
    payload["stops"]["ease"] = {"size": "20k", "status": "failed", "reason": "exit -11"}
    out.write_text(json.dumps(payload))
    again = subprocess.run(
        [*cmd, "--engines", "als,ease", "--resume"], capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = json.loads(out.read_text())
    assert resumed["fits"]["als"]["20k"] == als  # not run again
    assert resumed["fits"]["ease"]["20k"]["status"] == "ok"
    assert "ease" not in resumed["stops"]
    assert resumed["exponents"]["ease"] == {"fit_s": None, "peak_mb": None}  # one size
    assert "ease" in again.stdout and "als" in again.stdout
