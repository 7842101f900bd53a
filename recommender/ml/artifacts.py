"""Versioned model artifacts on disk, swapped atomically.

Layout: ``<root>/<engine>/<version>/`` holds one trained model plus ``items.npy`` (the MAL
ids of its item index) and ``artifact.json``; ``<root>/<engine>/CURRENT`` names the version
being served. A new version is written under a temporary name, renamed into place, and
only then does CURRENT flip (``os.replace`` is atomic), so a reader never sees a
half-written model and the previous version serves until the new one is complete.

Durability and access: every file and the version folder are fsynced before CURRENT
flips (a power cut cannot leave CURRENT naming a version whose bytes never reached the
disk), and the tree is made readable by other users (folders 0755, files 0644), so a web
process running as another user than the worker can load it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

KEEP_VERSIONS = 3
DIR_MODE, FILE_MODE = 0o755, 0o644


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _seal(directory: Path) -> None:
    """Readable by others and on disk: every file, then the folders, deepest first."""
    for root, dirs, files in os.walk(directory, topdown=False):
        for name in files:
            path = Path(root) / name
            os.chmod(path, FILE_MODE)
            _fsync_path(path)
        for name in dirs:
            os.chmod(Path(root) / name, DIR_MODE)
            _fsync_path(Path(root) / name)
    os.chmod(directory, DIR_MODE)
    _fsync_path(directory)


def engine_dir(root: Path, engine: str) -> Path:
    return Path(root) / engine


def current_version(root: Path, engine: str) -> str | None:
    try:
        return (engine_dir(root, engine) / "CURRENT").read_text().strip() or None
    except FileNotFoundError:
        return None


def publish(
    root: Path,
    engine: str,
    version: str,
    item_ids: np.ndarray,
    meta: dict,
    write_model: Callable[[Path], None],
) -> Path:
    """Write a new version with ``write_model(dir)`` and make it current."""
    base = engine_dir(root, engine)
    base.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    final = base / version
    if final.exists():
        raise FileExistsError(f"version {version} of {engine} already exists")
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=base))
    try:
        write_model(tmp)
        np.save(tmp / "items.npy", np.asarray(item_ids, dtype=np.int64), allow_pickle=False)
        (tmp / "artifact.json").write_text(json.dumps({**meta, "version": version}, indent=2))
        _seal(tmp)
        os.rename(tmp, final)
        _fsync_path(base)  # the rename itself
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = base / f".CURRENT-{version}"
    pointer.write_text(version)
    os.chmod(pointer, FILE_MODE)
    _fsync_path(pointer)
    os.replace(pointer, base / "CURRENT")
    _fsync_path(base)
    _prune(base, keep=version)
    return final


def _prune(base: Path, keep: str) -> None:
    """Keep the newest KEEP_VERSIONS versions (the current one always)."""
    versions = sorted(
        (p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    for old in versions[:-KEEP_VERSIONS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def read_version(root: Path, engine: str, version: str) -> tuple[Path, np.ndarray, dict]:
    path = engine_dir(root, engine) / version
    items = np.load(path / "items.npy", allow_pickle=False)
    meta = json.loads((path / "artifact.json").read_text())
    return path, items, meta
