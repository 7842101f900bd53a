"""Ranked item neighbours saved beside a model: each engine's own ranking, read back
memory-mapped, one row at a time. Plain pytest, no Django."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.knn_baseline import KNNBaseline
from recommender.ml.neighbours import (
    ITEMS_FILE,
    neighbours_from_scores,
    neighbours_open,
    neighbours_save,
)
from recommender.ml.registry import ENGINES
from recommender.ml.watchlist_nn import WatchlistNN
from tests.recommender.ml.test_watchlist_nn import SMALL, _row, _two_tastes


def _planted_scores(seed: int = 0) -> sp.csr_matrix:
    # Items 0-4 are loved by users 0-29 and disliked by users 30-59; items 5-9 the reverse.
    rng = np.random.default_rng(seed)
    scores = np.zeros((60, 10))
    scores[:30, :5] = rng.integers(8, 11, (30, 5))
    scores[:30, 5:] = rng.integers(1, 4, (30, 5))
    scores[30:, :5] = rng.integers(1, 4, (30, 5))
    scores[30:, 5:] = rng.integers(8, 11, (30, 5))
    return sp.csr_matrix(scores)


def test_knn_neighbours_are_its_similar_items_row_by_row():
    model = KNNBaseline(shrinkage=0).fit(_planted_scores())
    indices, scores = model.neighbours(3)
    assert indices.dtype == np.int32 and scores.dtype == np.float32
    assert indices.shape == (10, 3)
    for item in range(10):
        idx, sims = model.similar_items(item, n=3)
        np.testing.assert_array_equal(indices[item], idx)
        np.testing.assert_array_equal(scores[item], sims)
    assert set(indices[2].tolist()) <= {0, 1, 3, 4}


def test_knn_rows_shorter_than_k_are_padded():
    model = KNNBaseline(shrinkage=0).fit(_planted_scores())
    indices, scores = model.neighbours(50)
    # 4 positive neighbours per item (its own cluster): width is the longest row, not k.
    assert indices.shape == (10, 4)
    lengths = (indices >= 0).sum(axis=1)
    assert np.all(np.isnan(scores) == (indices < 0))
    for item in range(10):
        assert lengths[item] == len(model.similar_items(item, n=50)[0])


def test_watchlist_neighbours_are_its_one_title_list_ranking():
    model = WatchlistNN(**SMALL, random_state=0).fit(_two_tastes())
    indices, scores = model.neighbours(10)
    for item in (1, 25):
        idx, sc = model.recommend(_row([item]), n=10)
        np.testing.assert_array_equal(indices[item], idx[0])
        # Batched forward passes: the last float32 bit can differ from a one-row pass.
        np.testing.assert_allclose(scores[item], sc[0], rtol=1e-5)
        assert item not in indices[item]
    # The planted tastes: a B title's best neighbours are B titles (further down, the
    # twice-as-popular A cluster's top titles come in, as for a short B list).
    assert np.all(indices[25, :3] >= 20)


def test_titles_the_network_does_not_model_have_no_watchlist_neighbours():
    x = _two_tastes()
    # Title 40: two watchers, fewer than min_item_count = 5.
    extra = sp.csr_matrix((np.ones(2, np.float32), ([0, 1], [0, 0])), shape=(x.shape[0], 1))
    model = WatchlistNN(**{**SMALL, "epochs": 2}).fit(sp.hstack([x, extra], format="csr"))
    indices, scores = model.neighbours(45)
    assert indices.shape == (41, 40)
    assert np.all(indices[40] == -1) and np.all(np.isnan(scores[40]))
    assert not np.any(indices == 40)
    assert np.all((indices[:40] >= 0).sum(axis=1) == 39)


def test_score_ranking_breaks_ties_on_the_smaller_index_and_skips_the_title_itself():
    flat = np.ones((6, 6), dtype=np.float32)
    flat[:, 5] = np.nan  # a title no list can score
    indices, scores = neighbours_from_scores(lambda batch: flat[batch], 6, 3, items=range(5))
    expected = [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2], [0, 1, 2], [-1, -1, -1]]
    np.testing.assert_array_equal(indices, expected)
    assert np.all(scores[:5] == 1) and np.all(np.isnan(scores[5]))


def test_saved_neighbours_open_memory_mapped_and_read_only(tmp_path):
    indices = np.array([[1, 2], [0, -1], [-1, -1]], dtype=np.int32)
    scores = np.array([[0.9, 0.5], [0.9, np.nan], [np.nan, np.nan]], dtype=np.float32)
    neighbours_save(tmp_path, indices, scores)
    opened = neighbours_open(tmp_path)
    assert opened is not None
    got_indices, got_scores = opened
    assert isinstance(got_indices, np.memmap) and isinstance(got_scores, np.memmap)
    np.testing.assert_array_equal(got_indices, indices)
    np.testing.assert_array_equal(got_scores, scores)
    with pytest.raises(ValueError):
        got_indices[0, 0] = 7


def test_a_version_saved_without_neighbours_opens_as_none(tmp_path):
    assert neighbours_open(tmp_path) is None


@pytest.mark.parametrize("engine", ["knn_baseline", "watchlist_nn"])
def test_engines_that_name_neighbours_save_them_with_the_model(engine, tmp_path):
    spec = ENGINES[engine]
    assert spec.neighbours_by
    if engine == "knn_baseline":
        matrix = _planted_scores()
        model = spec.factory(shrinkage=0).fit(matrix)
    else:
        matrix = _two_tastes()
        model = spec.factory(**{**SMALL, "epochs": 2}).fit(matrix)
    spec.saver(model, tmp_path)
    assert (tmp_path / ITEMS_FILE).exists()
    indices, _ = neighbours_open(tmp_path)
    assert len(indices) == matrix.shape[1]
    np.testing.assert_array_equal(indices, model.neighbours(indices.shape[1])[0])
