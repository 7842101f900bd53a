from __future__ import annotations

import numpy as np
import pytest

from recommender.ml import artifacts


def write(text: str):
    return lambda d: (d / "model.txt").write_text(text)


def test_publish_swaps_current_and_keeps_previous(tmp_path):
    artifacts.publish(tmp_path, "e", "v1", np.array([5, 7]), {}, write("one"))
    artifacts.publish(tmp_path, "e", "v2", np.array([5, 7, 9]), {"a": 1}, write("two"))
    assert artifacts.current_version(tmp_path, "e") == "v2"
    path, items, meta = artifacts.read_version(tmp_path, "e", "v2")
    assert (path / "model.txt").read_text() == "two"
    assert items.tolist() == [5, 7, 9] and meta == {"a": 1, "version": "v2"}
    assert (tmp_path / "e" / "v1" / "model.txt").exists()


def test_failed_write_leaves_current_untouched(tmp_path):
    artifacts.publish(tmp_path, "e", "v1", np.array([1]), {}, write("one"))

    def broken(directory):
        (directory / "half.bin").write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError):
        artifacts.publish(tmp_path, "e", "v2", np.array([1]), {}, broken)
    assert artifacts.current_version(tmp_path, "e") == "v1"
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["CURRENT", "v1"]


def test_old_versions_are_pruned(tmp_path):
    for i in range(5):
        artifacts.publish(tmp_path, "e", f"v{i}", np.array([1]), {}, write(str(i)))
    kept = sorted(p.name for p in (tmp_path / "e").iterdir() if p.is_dir())
    assert kept == ["v2", "v3", "v4"]


def test_published_files_are_readable_by_other_users(tmp_path):
    """The worker may run with a strict umask; the web process is another user."""
    import os
    import stat

    def nested(directory):
        (directory / "weights").mkdir()
        (directory / "weights" / "w.bin").write_bytes(b"w")
        (directory / "model.txt").write_text("m")

    old = os.umask(0o077)
    try:
        artifacts.publish(tmp_path, "e", "v1", np.array([1]), {}, nested)
    finally:
        os.umask(old)
    version = tmp_path / "e" / "v1"
    modes = {
        p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in [version, *version.rglob("*"), tmp_path / "e" / "CURRENT"]
    }
    assert modes == {
        "e/v1": 0o755,
        "e/v1/weights": 0o755,
        "e/v1/weights/w.bin": 0o644,
        "e/v1/model.txt": 0o644,
        "e/v1/items.npy": 0o644,
        "e/v1/artifact.json": 0o644,
        "e/CURRENT": 0o644,
    }


def test_everything_is_fsynced_before_current_flips(tmp_path, monkeypatch):
    import os

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync " + os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(src, dst, *args, **kwargs):
        events.append(f"replace {os.path.basename(dst)}")
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    artifacts.publish(tmp_path, "e", "v1", np.array([1]), {}, write("one"))
    flip = events.index("replace CURRENT")
    synced_before = {e.removeprefix("fsync ") for e in events[:flip] if e.startswith("fsync ")}
    # Written under a temporary name, so look for the file names and the folder.
    names = {os.path.basename(p) for p in synced_before}
    assert {"model.txt", "items.npy", "artifact.json"} <= names
    assert any(os.path.basename(p).startswith(".v1-") for p in synced_before)  # the folder
    assert str(tmp_path / "e") in synced_before  # the rename into place
    assert events[flip + 1 :] == [f"fsync {tmp_path / 'e'}"]  # and the flip itself
