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
