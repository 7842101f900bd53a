"""One contract every model must honour, run against each of them on the mini MAL data.

Plain pytest, no Django: ``pytest tests/recommender/ml -p no:django``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml import baselines
from recommender.ml.watchlist_nn import WatchlistNN


def _knn_baseline(seed: int):
    knn = pytest.importorskip("recommender.ml.knn_baseline")
    return knn.KNNBaseline(k=40, shrinkage=100)


# name -> (factory(seed), input kind). Small settings: this checks behaviour, not quality.
MODELS: dict[str, tuple[Callable[[int], object], str]] = {
    "popularity": (lambda s: baselines.Popularity(), "binary"),
    "ease": (lambda s: baselines.EASE(lam=200.0), "binary"),
    "als": (
        lambda s: baselines.ALS(factors=16, iterations=5, random_state=s, num_threads=1),
        "binary",
    ),
    "surprise_svd": (lambda s: baselines.SurpriseSVD(random_state=s), "score"),
    "surprise_knnbaseline": (lambda s: baselines.SurpriseKNNBaseline(), "score"),
    "knn_baseline": (_knn_baseline, "score"),
    "watchlist_nn": (lambda s: WatchlistNN(hidden=32, epochs=3, random_state=s), "binary"),
}
N = 10
ROWS = np.arange(0, 399, 40)  # 10 training users spread over the id range


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request, mini_ratings):
    """(name, model fitted with seed 0, its training matrix)."""
    factory, kind = MODELS[request.param]
    ratings = mini_ratings if kind == "binary" else mini_ratings.explicit()
    x = ratings.matrix("binary" if kind == "binary" else "score")
    return request.param, factory(0).fit(x), x


def _recommend(model, rows: sp.csr_matrix, users: np.ndarray | None):
    if users is not None and "users" in inspect.signature(model.recommend).parameters:
        return model.recommend(rows, N, users=users)
    return model.recommend(rows, N)


def test_recommend_shapes_dtypes_and_order(fitted):
    name, model, x = fitted
    idx, scores = _recommend(model, x[ROWS], ROWS)
    assert idx.shape == (len(ROWS), N) and scores.shape == (len(ROWS), N), name
    assert idx.dtype == np.int64 and scores.dtype == np.float32, name
    assert np.all((idx >= 0) & (idx < x.shape[1])), name
    assert np.all(np.diff(scores, axis=1) <= 0), f"{name}: scores not sorted best first"
    assert all(len(set(r)) == N for r in idx), f"{name}: duplicate items in a list"


def test_never_recommends_seen_items(fitted):
    name, model, x = fitted
    idx, _ = _recommend(model, x[ROWS], ROWS)
    for r, items in zip(ROWS, idx, strict=True):
        seen = x.indices[x.indptr[r] : x.indptr[r + 1]]
        assert len(seen) > 0
        assert not np.isin(items, seen).any(), f"{name} recommended a seen item to {r}"


def test_new_user_row_is_served_from_the_row(fitted):
    name, model, x = fitted
    # A user unknown at fit time who has watched the 30 most popular titles.
    popular = np.argsort(-np.diff(x.tocsc().indptr), kind="stable")[:30]
    values = np.full(len(popular), 9.0, dtype=np.float32)
    row = sp.csr_matrix((values, (np.zeros(30, int), popular)), shape=(1, x.shape[1]))
    idx, scores = model.recommend(row, N)
    assert idx.shape == (1, N) and np.isfinite(scores).all(), name
    assert not np.isin(idx[0], popular).any(), name
    # An empty list (brand-new sign-up) still gets a full list.
    idx, _ = model.recommend(sp.csr_matrix((1, x.shape[1]), dtype=np.float32), N)
    assert idx.shape == (1, N) and len(set(idx[0])) == N, name


def test_same_seed_same_recommendations(fitted, mini_ratings):
    name, model, x = fitted
    factory, _ = MODELS[name]
    again = factory(0).fit(x)
    a_idx, a_scores = _recommend(model, x[ROWS], ROWS)
    b_idx, b_scores = _recommend(again, x[ROWS], ROWS)
    np.testing.assert_array_equal(a_idx, b_idx, err_msg=name)
    np.testing.assert_allclose(a_scores, b_scores, rtol=1e-5, err_msg=name)
