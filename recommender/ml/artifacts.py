"""Versioned model artifacts on disk, swapped atomically.

Layout: ``<root>/<engine>/<version>/`` holds one trained model plus ``items.npy`` (the MAL
ids of its item index) and ``artifact.json``; ``<root>/<engine>/CURRENT`` names the version
being served. A new version is written under a temporary name, renamed into place, and
only then does CURRENT flip (``os.replace`` is atomic), so a reader never sees a
half-written model and the previous version serves until the new one is complete.
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
    base.mkdir(parents=True, exist_ok=True)
    final = base / version
    if final.exists():
        raise FileExistsError(f"version {version} of {engine} already exists")
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=base))
    try:
        write_model(tmp)
        np.save(tmp / "items.npy", np.asarray(item_ids, dtype=np.int64), allow_pickle=False)
        (tmp / "artifact.json").write_text(json.dumps({**meta, "version": version}, indent=2))
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = base / f".CURRENT-{version}"
    pointer.write_text(version)
    os.replace(pointer, base / "CURRENT")
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
