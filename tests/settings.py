"""Test settings: the local settings on a throwaway var dir, never the developer's ``var/``.

``animender.settings`` puts the SQLite database, trained models, taste models and static
root under ``VAR_DIR`` (``var/`` by default) and creates those folders on import. This
module runs before it and points every one of them at a fresh temporary folder through
the environment, so neither this process nor a subprocess of a test (``manage.py``, a
Celery worker, a bench script), which inherit the environment, reads or writes the
development instance's files. A subprocess imports this module again and keeps the
folder it inherits (and anything a test set for it, such as a worker's
``ANIMENDER_MODEL_DIR``). The process that made the folder removes it when it exits
(also when pytest stops on a broken conftest); a later session removes those of killed
ones. ``tests/conftest.py`` gives each test its own ``MODEL_DIR`` on top.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Set by the first (pytest) process; subprocesses of tests inherit it.
VAR_ENV = "ANIMENDER_TEST_VAR_DIR"
PREFIX = "animender-test-var-"
OWNS_VAR_DIR = VAR_ENV not in os.environ


def _remove_abandoned() -> None:
    """Folders of earlier sessions that were killed (SIGTERM, SIGKILL) before atexit."""
    for old in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            os.kill(int((old / "owner.pid").read_text()), 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except (OSError, ValueError):
            pass  # not ours to judge (no pid file yet, another user's process)


if OWNS_VAR_DIR:
    _remove_abandoned()
    _var = Path(tempfile.mkdtemp(prefix=PREFIX))
    (_var / "owner.pid").write_text(str(os.getpid()))
    os.environ[VAR_ENV] = str(_var)
    # Explicit values beat the developer's shell and .env (read without overwriting).
    os.environ["ANIMENDER_VAR_DIR"] = str(_var)
    os.environ["ANIMENDER_MODEL_DIR"] = str(_var / "models")
    os.environ["STATIC_ROOT"] = str(_var / "static")
    os.environ["ANIMENDER_TEST_SQLITE"] = str(_var / "test.sqlite3")

    def _remove_var_dir(path: Path = _var, owner: int = os.getpid()) -> None:
        if os.getpid() == owner:  # not in a forked child that exits through atexit
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(_remove_var_dir)
TEST_VAR_DIR = Path(os.environ[VAR_ENV])

from animender.settings import *  # noqa: E402, F403
