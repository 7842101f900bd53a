"""Metrics and protocols on examples small enough to compute by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml import evaluation
from recommender.ml.baselines import Popularity
from recommender.ml.data import Ratings
from recommender.ml.evaluation import evaluate_rating, evaluate_topn
from recommender.ml.metrics import (
    catalog_coverage,
    mae,
    ndcg_at_k,
    recall_at_k,
    rmse,
    topn_metrics,
)

LOG2_3 = math.log2(3)


def test_rmse_and_mae_by_hand():
    pred, true = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 5.0])
    assert rmse(pred, true) == pytest.approx(math.sqrt(5 / 3))
    assert mae(pred, true) == pytest.approx(1.0)


def test_recall_divides_by_min_of_held_out_and_k():
    # One of two held-out titles in the top 3: 1 / min(2, 3).
    assert recall_at_k(np.array([1, 2, 3, 4]), np.array([2, 9]), 3) == pytest.approx(0.5)
    # Four held out, K = 2, one hit: 1 / min(4, 2), not 1 / 4.
    assert recall_at_k(np.array([9, 1, 2]), np.array([1, 2, 3, 4]), 2) == pytest.approx(0.5)
    # A hit beyond K does not count.
    assert recall_at_k(np.array([5, 6, 7]), np.array([7]), 2) == 0.0


def test_ndcg_binary_with_ideal_over_min_of_held_out_and_k():
    # Hits at ranks 2 and 3; ideal has both at ranks 1 and 2.
    got = ndcg_at_k(np.array([5, 2, 7]), np.array([2, 7]), 3)
    assert got == pytest.approx((1 / LOG2_3 + 1 / 2) / (1 + 1 / LOG2_3))
    # Four held out, K = 2: ideal DCG is over 2 positions; one hit at rank 2.
    got = ndcg_at_k(np.array([9, 1, 2]), np.array([1, 2, 3, 4]), 2)
    assert got == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3))
    assert ndcg_at_k(np.array([1, 2]), np.array([1]), 2) == pytest.approx(1.0)
    assert ndcg_at_k(np.array([3, 4]), np.array([1]), 2) == 0.0


def test_coverage_counts_distinct_items_in_top_k():
    recs = np.array([[0, 1, 7], [1, 2, 8]])
    assert catalog_coverage(recs, n_items=10, k=2) == pytest.approx(3 / 10)
    assert catalog_coverage(recs, n_items=10, k=3) == pytest.approx(5 / 10)


def test_topn_metrics_average_over_users():
    recs = np.array([[2, 3], [1, 3]])
    out = topn_metrics(recs, [np.array([2]), np.array([3])], n_items=5, ks=(1, 2))
    assert out["recall@1"] == pytest.approx(0.5)
    assert out["ndcg@2"] == pytest.approx((1 + 1 / LOG2_3) / 2)


def _toy() -> tuple[Ratings, dict[int, np.ndarray]]:
    """4 users x 5 titles, no ties where it matters; -1 = completed, unscored.

    u0: t0=9, t1=-1   u1: t0=8, t2=7   u2: t0=10, t1=9, t2=-1, t3=-1   u3: t1=8
    """
    users = np.array([0, 0, 1, 1, 2, 2, 2, 2, 3], dtype=np.int32)
    items = np.array([0, 1, 0, 2, 0, 1, 2, 3, 1], dtype=np.int32)
    scores = np.array([9, -1, 8, 7, 10, 9, -1, -1, 8], dtype=np.float32)
    train = Ratings(users, items, scores, np.arange(4), np.arange(5))
    return train, {0: np.array([2]), 1: np.array([3])}


class _Clock:
    """Stands in for ``time.perf_counter`` in the harness: time passes only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _TimedPopularity(Popularity):
    """Popularity whose fit takes 2 s and whose recommend takes 10 ms a row, on ``clock``."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self.clock = clock

    def fit(self, user_items: sp.csr_matrix) -> _TimedPopularity:
        self.clock.now += 2.0
        return super().fit(user_items)

    def recommend(self, user_items: sp.csr_matrix, n: int = 10, users=None):
        self.clock.now += 0.010 * user_items.shape[0]
        return super().recommend(user_items, n, users=users)


def test_evaluate_topn_popularity_by_hand(monkeypatch):
    train, test = _toy()
    clock = _Clock()
    monkeypatch.setattr(evaluation, "time", SimpleNamespace(perf_counter=clock))
    # Completions: t0 3, t1 3, t2 2, t3 1, t4 0. u0 (seen t0, t1) gets [t2, t3],
    # u1 (seen t0, t2) gets [t1, t3]: hit at rank 1 for u0, rank 2 for u1.
    out = evaluate_topn(_TimedPopularity(clock), train, test, ks=(1, 2))
    assert out["recall@1"] == pytest.approx(0.5)
    assert out["recall@2"] == pytest.approx(1.0)
    assert out["ndcg@2"] == pytest.approx((1 + 1 / LOG2_3) / 2)
    assert out["n_users"] == 2
    # Only the time inside recommend() counts, per user, in milliseconds; fit is apart.
    assert out["ms_per_user"] == pytest.approx(10.0)
    assert out["fit_s"] == pytest.approx(2.0)


def test_evaluate_topn_explicit_models_never_get_their_unscored_titles_back():
    train, test = _toy()
    # Explicit rows only: t0 3, t1 2, t2 1, t3 0. u0's explicit row is {t0}, so the model
    # ranks t1 first, but u0 completed t1 (-1): the harness must drop it.
    model = Popularity()
    out = evaluate_topn(model, train, test, ks=(1,), kind="explicit")
    idx, _ = model.recommend(sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 5)), 1)
    assert idx[0, 0] == 1  # the model alone would repeat t1
    assert out["recall@1"] == pytest.approx(0.5)  # u0: t2 hit; u1: t1 miss


class _GlobalMean:
    """Predicts the training mean for everything: RMSE is then the test std about it."""

    def fit(self, user_items: sp.csr_matrix) -> _GlobalMean:
        self.mean = float(user_items.data.mean())
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.full(len(users), self.mean, dtype=np.float32)


def test_evaluate_rating_uses_explicit_rows_only():
    train, _ = _toy()
    test = Ratings(
        np.array([0, 1]),
        np.array([4, 4]),
        np.array([6.0, 10.0], np.float32),
        np.arange(4),
        np.arange(5),
    )
    out = evaluate_rating(_GlobalMean(), train, test)
    # Mean of 9, 8, 7, 10, 9, 8 = 8.5 (the -1 rows are not ratings).
    assert out["rmse"] == pytest.approx(math.sqrt(((6 - 8.5) ** 2 + (10 - 8.5) ** 2) / 2))
    assert out["mae"] == pytest.approx((2.5 + 1.5) / 2)
