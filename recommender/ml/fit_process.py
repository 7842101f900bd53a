"""Fit and save one engine in a child process under a memory cap.

A fit that runs out of memory inside the worker takes the worker with it (the kernel's
OOM killer picks the biggest process) and leaves the run to the reaper. Here the fit
runs in ``python -m recommender.ml.fit_process JOB_DIR`` with ``RLIMIT_DATA`` (heap and
anonymous mappings: what numpy and torch allocate; not the shared libraries' address
space) set before it loads anything, so an allocation past the cap fails inside the
child, which reports it and exits. The caller gets :class:`FitOutOfMemory` and the
serving version is untouched. Plain Python: no Django.

The job folder holds ``matrix.npz`` (the CSR the engine fits), ``job.json`` (engine,
params, cap) and receives ``model/`` (the engine's saver output), ``result.json`` and
``stderr.log``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import scipy.sparse as sp

# The child's exit status when an allocation failed: distinct from Python's 1 (any other
# exception) and from death by a signal (negative in Popen.returncode).
MEMORY_EXIT = 75
_ROOT = Path(__file__).resolve().parents[2]


class FitOutOfMemory(MemoryError):
    """The fit needed more memory than its cap (or the machine) allowed."""


class FitProcessFailed(RuntimeError):
    """The child failed for another reason; the message is its last error line."""


def is_allocation_failure(exc: BaseException) -> bool:
    """MemoryError (numpy, Python), or torch's allocator refusing (a RuntimeError)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "Cannot allocate memory" in text
    )


def fit_in_subprocess(
    *,
    engine: str,
    params: dict,
    matrix: sp.csr_matrix,
    job_dir: Path,
    memory_limit_mb: int,
) -> dict:
    """Fit ``engine`` on ``matrix`` in a child capped at ``memory_limit_mb``; the model is
    saved under ``job_dir / "model"``. Returns ``fit_seconds``, ``peak_rss_mb`` (the
    child's high-water mark) and ``data_mb`` (its heap and anonymous mappings, what the
    cap counts, after the fit).

    Raises :class:`FitOutOfMemory` past the cap or when the child was SIGKILLed (what
    the kernel's OOM killer sends), :class:`FitProcessFailed` for any other failure. The
    child is killed if this call is interrupted (a Celery soft time limit, say).
    """
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    sp.save_npz(job_dir / "matrix.npz", sp.csr_matrix(matrix), compressed=False)
    (job_dir / "job.json").write_text(
        json.dumps({"engine": engine, "params": params, "memory_limit_mb": memory_limit_mb})
    )
    cmd = [sys.executable, "-m", "recommender.ml.fit_process", str(job_dir)]
    with open(job_dir / "stderr.log", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=_ROOT, stdout=subprocess.DEVNULL, stderr=err)
        try:
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    last = _last_line(job_dir / "stderr.log")
    if code == MEMORY_EXIT:
        raise FitOutOfMemory(
            f"out of memory: training {engine} needed more than its cap of "
            f"{memory_limit_mb} MB (TRAINING_MEMORY_LIMIT_MB). {last}".strip()
        )
    if code == -signal.SIGKILL:
        raise FitOutOfMemory(
            f"the fit of {engine} was killed (SIGKILL), most likely by the kernel's "
            f"out-of-memory killer: lower TRAINING_MEMORY_LIMIT_MB (now {memory_limit_mb} "
            "MB) below the memory the machine has free"
        )
    if code != 0:
        raise FitProcessFailed(f"the fit of {engine} failed (exit {code}): {last}")
    return json.loads((job_dir / "result.json").read_text())


def _last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines()
    return lines[-1][:500] if lines else ""


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def _cap(memory_limit_mb: int) -> None:
    limit = int(memory_limit_mb) * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def main(job_dir: str) -> int:
    job_dir_path = Path(job_dir)
    job = json.loads((job_dir_path / "job.json").read_text())
    # First: the cap counts the whole process (the libraries the engine imports and the
    # matrix too), as the kernel would.
    _cap(job["memory_limit_mb"])
    try:
        from .registry import ENGINES

        spec = ENGINES[job["engine"]]
        matrix = sp.load_npz(job_dir_path / "matrix.npz").tocsr()
        started = time.perf_counter()
        model = spec.factory(**job["params"]).fit(matrix)
        fit_seconds = time.perf_counter() - started
        out = job_dir_path / "model"
        out.mkdir(exist_ok=True)
        spec.saver(model, out)
    except BaseException as exc:
        if not is_allocation_failure(exc):
            raise
        # No traceback: formatting one allocates, and the heap is what ran out.
        os.write(2, f"{type(exc).__name__}: {str(exc)[:300]}\n".encode())
        return MEMORY_EXIT
    result = {
        "fit_seconds": fit_seconds,
        "peak_rss_mb": _status_mb("VmHWM"),
        "data_mb": _status_mb("VmData"),
    }
    (job_dir_path / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except MemoryError:  # failed before the handler could even run (an import, say)
        os._exit(MEMORY_EXIT)
