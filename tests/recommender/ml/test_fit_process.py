"""fit_process: an engine fitted in a capped child process; past the cap it fails cleanly."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.fit_process import FitOutOfMemory, FitProcessFailed, fit_in_subprocess
from recommender.ml.watchlist_nn import WatchlistNN

TINY_NN = {"hidden": 16, "epochs": 1, "batch_size": 64, "min_item_count": 1}


def _lists(n_users: int, n_items: int, per_user: int = 20, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    cols = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    rows = np.repeat(np.arange(n_users), per_user)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))


def test_a_child_fit_saves_a_model_that_serves(tmp_path):
    x = _lists(300, 400)
    got = fit_in_subprocess(
        engine="watchlist_nn", params=TINY_NN, matrix=x, job_dir=tmp_path, memory_limit_mb=4000
    )
    assert got["fit_seconds"] > 0 and got["peak_rss_mb"] > got["data_mb"] / 10 > 0
    model = WatchlistNN.load(tmp_path / "model")
    idx, _ = model.recommend(x[:3], n=5)
    assert idx.shape == (3, 5)
    assert not any(x[i, j] for i in range(3) for j in idx[i])


def test_a_fit_past_its_memory_cap_raises_out_of_memory(tmp_path):
    x = _lists(300, 4000)
    # The same engine without the wide path shows what the child needs before the fit
    # allocates much; the wide path adds a 4000 x 4000 float32 matrix (64 MB) and its
    # gradient and Adam state (3 more), far past a 30 MB margin.
    base = fit_in_subprocess(
        engine="watchlist_nn",
        params=TINY_NN,
        matrix=x,
        job_dir=tmp_path / "small",
        memory_limit_mb=4000,
    )
    cap = int(base["data_mb"]) + 30
    with pytest.raises(FitOutOfMemory, match=f"out of memory: .* cap of {cap} MB") as caught:
        fit_in_subprocess(
            engine="watchlist_nn",
            params={**TINY_NN, "item_item": True},
            matrix=x,
            job_dir=tmp_path / "big",
            memory_limit_mb=cap,
        )
    # The child says which allocation failed (numpy's MemoryError or torch's allocator).
    assert "allocate" in str(caught.value)
    assert not (tmp_path / "big" / "result.json").exists()


def test_a_fit_failing_for_another_reason_is_not_called_memory(tmp_path):
    with pytest.raises(FitProcessFailed, match="loss must be one of") as caught:
        fit_in_subprocess(
            engine="watchlist_nn",
            params={**TINY_NN, "loss": "hinge"},
            matrix=_lists(50, 100),
            job_dir=tmp_path,
            memory_limit_mb=4000,
        )
    assert not isinstance(caught.value, MemoryError)
