"""A real Celery worker in its own process, for tests that kill it mid-run (SIGKILL), and
what to hold it on.

The worker reads the test's database (``DATABASE_URL``) and a real Redis broker; it runs in
a new session so the kill takes the whole process group (the evaluation harness's child
processes too), exactly as a host losing the worker. Sleeping and hoping is flaky, so a
worker can be made to wait on something the test holds: a named pipe where it reads a file
(a model's CURRENT pointer, a features artifact), or a socket that accepts a connection and
never answers (MyAnimeList). ``WORKER_LOG=/path`` keeps the workers' output there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from django.db import connection

from animender.celery import app as celery_app
from tests.conftest import BROKER_URL, REPO, _forget_connections, _redis_reachable
from tests.waiting import wait_until

# Its own Redis database, not the one of ``redis_broker`` (15): a held worker here must never
# take another test's message, nor another test's worker one of ours.
KILLABLE_BROKER_URL = os.environ.get("TEST_KILLED_WORKER_BROKER_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def killable_broker():
    """The Celery app publishing to :data:`KILLABLE_BROKER_URL`, emptied before and after."""
    if not _redis_reachable(KILLABLE_BROKER_URL):
        pytest.skip(f"Redis unreachable at {KILLABLE_BROKER_URL} (TEST_KILLED_WORKER_BROKER_URL)")
    saved = {
        key: celery_app.conf[key] for key in ("task_always_eager", "broker_url", "result_backend")
    }
    celery_app.conf.update(
        task_always_eager=False, broker_url=KILLABLE_BROKER_URL, result_backend=None
    )
    _forget_connections(celery_app)
    broker_forget()
    yield celery_app
    broker_forget()
    celery_app.conf.update(saved)
    _forget_connections(celery_app)


def database_url() -> str:
    """The URL of the test database this process uses, for a worker in another process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_start(
    *,
    model_dir: Path | None = None,
    broker_url: str = BROKER_URL,
    heartbeat_seconds: float = 0.2,
    **env: str,
) -> subprocess.Popen:
    """A solo-pool worker with the test's database and ``broker_url``; ``env`` on top.

    With ``model_dir`` the worker trains and serves there and logs beside it (for a failing
    test to be read). A held worker gets a slow heartbeat (``heartbeat_seconds=3600``) so
    the run it holds stays exactly as silent as the test makes it.
    """
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "RUN_HEARTBEAT_SECONDS": str(heartbeat_seconds),
        **({"ANIMENDER_MODEL_DIR": str(model_dir)} if model_dir is not None else {}),
        **env,
    }
    if model_dir is not None:
        log = open(Path(model_dir).parent / "worker.log", "ab")  # noqa: SIM115 - the worker's
    else:
        log = open(os.environ.get("WORKER_LOG", os.devnull), "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "animender", "worker", "--pool=solo"]
        + ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
        cwd=REPO,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def worker_kill(worker: subprocess.Popen) -> None:
    """SIGKILL the worker's whole process group and reap it."""
    if worker.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL


def worker_stop(worker: subprocess.Popen, *, timeout: float = 120) -> None:
    """Warm shutdown: the worker finishes the task it holds, then exits."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=timeout)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def kill_worker_mid_run(
    mid_run: Callable[[], object], *, timeout: float = 90, what: str, **env: str
) -> None:
    """Start a worker, wait until ``mid_run()`` is truthy (it claimed the run and beat at
    least once), then SIGKILL it: the run is left ``running`` with nobody working on it."""
    worker = worker_start(**env)
    try:
        wait_until(mid_run, timeout=timeout, interval=0.1, what=what)
    finally:
        worker_kill(worker)


def wait_claimed(model, pk: int, *, attempt: int, timeout: float = 120) -> None:
    """Until a worker has claimed attempt ``attempt`` of row ``pk``."""
    wait_until(
        lambda: model.objects.filter(pk=pk, state="running", attempts=attempt).exists(),
        timeout=timeout,
        interval=0.1,
        what=f"a worker to claim attempt {attempt} of {model.__name__} #{pk}",
    )


def reap_until(reap: Callable[[], dict], pk: int, outcome: str, *, timeout: float = 30) -> dict:
    """Run the kind's real beat task until it has put ``pk`` in ``outcome`` (requeued or
    failed): it acts only once the killed worker's last heartbeat is older than the stale
    limit, which the test makes short."""
    return wait_until(
        lambda: (result := reap()) and pk in result[outcome] and result,
        timeout=timeout,
        interval=0.2,
        what=f"the reaper to report #{pk} {outcome}",
    )


def queued_messages() -> int:
    """Task messages waiting on the killable broker's default queue."""
    return redis.Redis.from_url(KILLABLE_BROKER_URL).llen("celery")


def broker_forget() -> None:
    """Drop queued messages and what killed workers left unacknowledged (redelivered only
    hours later, but not to be met by a later test)."""
    redis.Redis.from_url(KILLABLE_BROKER_URL).flushdb()


def fifo_make(path: Path) -> Path:
    """A named pipe at ``path``: a worker that opens it to read waits until it is fed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.mkfifo(path)
    return path


def fifo_feed(path: Path, data: bytes) -> bool:
    """Hand ``data`` to a reader waiting on the pipe; False when nobody reads it now."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no reader has it open
            return False
        raise
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return True


def silent_server() -> socket.socket:
    """A listening socket that never accepts: a client connects, sends its request and
    waits for an answer until the socket is closed (then its connection is reset)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    return server
