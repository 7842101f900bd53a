"""EASE: the blocked in-place fit equals the closed form; the scalable variant's contract."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.baselines import EASE


def _random_lists(seed: int = 0, users: int = 300, items: int = 53) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    popularity = rng.pareto(1.5, items) + 0.05
    dense = rng.random((users, items)) < 0.4 * popularity / popularity.max()
    return sp.csr_matrix(dense.astype(np.float32))


def _closed_form(x: sp.csr_matrix, lam: float) -> np.ndarray:
    gram = (x.T @ x).toarray().astype(np.float64) + lam * np.eye(x.shape[1])
    p = np.linalg.inv(gram)
    b = p / -np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b


@pytest.mark.parametrize("block_size", [7, 2048])
def test_blocked_cholesky_fit_equals_the_closed_form(block_size):
    x = _random_lists()
    model = EASE(lam=20.0, block_size=block_size).fit(x)
    np.testing.assert_allclose(model.B, _closed_form(x, 20.0), rtol=1e-4, atol=1e-6)


def test_big_catalogs_factorise_on_one_blas_thread_and_get_the_same_model(monkeypatch):
    # Threaded OpenBLAS potrf crashes past ~16k titles, so EASE drops to one thread there;
    # the threshold is lowered here so a small catalog takes that path.
    from threadpoolctl import threadpool_info

    from recommender.ml import baselines

    before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    monkeypatch.setattr(baselines, "_THREADED_LAPACK_MAX", 10)
    x = _random_lists(seed=2)
    model = EASE(lam=20.0, block_size=16).fit(x)
    np.testing.assert_allclose(model.B, _closed_form(x, 20.0), rtol=1e-4, atol=1e-6)
    assert [(i["filepath"], i["num_threads"]) for i in threadpool_info()] == before


def test_float32_variant_ranks_like_float64():
    x = _random_lists(seed=1)
    exact_model = EASE(lam=20.0).fit(x)
    fast_model = EASE(lam=20.0, dtype="float32", block_size=16).fit(x)
    np.testing.assert_allclose(fast_model.B, exact_model.B, atol=1e-5)
    exact, _ = exact_model.recommend(x, n=10)
    fast, _ = fast_model.recommend(x, n=10)
    # Binary lists give exactly tied scores whose order is float noise (it changed with
    # the BLAS thread count), so compare the lists as sets, not position by position.
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, fast, strict=True)])
    assert overlap > 0.97


def test_max_items_models_the_most_completed_titles_and_ranks_the_rest_last(tmp_path):
    x = _random_lists(seed=2)
    counts = np.diff(x.tocsc().indptr)
    model = EASE(lam=20.0, max_items=20, block_size=8).fit(x)
    assert model.B.shape == (20, 20)
    assert set(model.modelled) == set(np.argsort(-counts, kind="stable")[:20])
    idx, _ = model.recommend(x, n=x.shape[1])
    seen = x.toarray() > 0
    for row in range(x.shape[0]):
        ranked = [i for i in idx[row] if not seen[row, i]]
        modelled = np.isin(ranked, model.modelled)
        # every unseen modelled title comes before every unmodelled one
        assert not np.any(np.diff(modelled.astype(int)) > 0)
    model.save(tmp_path / "ease.npz")
    again = EASE.load(tmp_path / "ease.npz")
    np.testing.assert_array_equal(again.recommend(x, n=5)[0], model.recommend(x, n=5)[0])


def test_bad_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype"):
        EASE(dtype="float16")
