"""KNNBaseline against scikit-surprise on the mini MAL data, plus contract and planted tests.

Plain pytest, no Django: run with ``-p no:django``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.ml import data
from recommender.ml.knn_baseline import KNNBaseline


@pytest.fixture(scope="module")
def split(mini_ratings) -> tuple[data.Ratings, data.Ratings]:
    return data.split_explicit(mini_ratings, seed=0)


@pytest.fixture(scope="module")
def train_matrix(split) -> sp.csr_matrix:
    return split[0].matrix()


@pytest.fixture(scope="module")
def exact(train_matrix) -> KNNBaseline:
    return KNNBaseline(neighbours_stored=None).fit(train_matrix)


@pytest.fixture(scope="module")
def surprise_model(split):
    surprise = pytest.importorskip("surprise")
    train = split[0]
    frame = pd.DataFrame({"u": train.users, "i": train.items, "r": train.scores.astype(np.float64)})
    reader = surprise.Reader(rating_scale=(1, 10))
    trainset = surprise.Dataset.load_from_df(frame, reader).build_full_trainset()
    return surprise.KNNBaseline(
        k=40,
        min_k=1,
        verbose=False,
        sim_options={"name": "pearson_baseline", "user_based": False, "shrinkage": 100},
    ).fit(trainset)


def _surprise_predict(algo, users, items) -> np.ndarray:
    return np.array([algo.predict(int(u), int(i)).est for u, i in zip(users, items, strict=True)])


def _rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, dtype=np.float64) - truth) ** 2)))


def test_baselines_equal_surprise(exact, surprise_model, split):
    ts = surprise_model.trainset
    users = np.unique(split[0].users)
    items = np.unique(split[0].items)
    theirs_u = np.array([surprise_model.bu[ts.to_inner_uid(int(u))] for u in users])
    theirs_i = np.array([surprise_model.bi[ts.to_inner_iid(int(i))] for i in items])
    np.testing.assert_allclose(exact.bu_[users], theirs_u, atol=1e-9)
    np.testing.assert_allclose(exact.bi_[items], theirs_i, atol=1e-9)
    assert exact.global_mean_ == pytest.approx(ts.global_mean)


def test_similarities_equal_surprise(exact, surprise_model, split):
    ts = surprise_model.trainset
    items = np.unique(split[0].items)[:60]
    inner = [ts.to_inner_iid(int(i)) for i in items]
    theirs = surprise_model.sim[np.ix_(inner, inner)]
    ours = exact.neighbours_[items][:, items].toarray()
    np.fill_diagonal(theirs, 0.0)  # self-similarity is implicit in ours
    # Ours keeps only the positive similarities: the only ones an estimate uses.
    np.testing.assert_allclose(ours, np.where(theirs > 0, theirs, 0.0), atol=1e-6)
    assert (ours > 0).sum() > 100


def test_predictions_match_surprise_per_pair(exact, surprise_model, split):
    train, test = split
    ours = exact.predict(test.users, test.items)
    theirs = _surprise_predict(surprise_model, test.users, test.items)
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    # Training pairs exercise the "item is its own best neighbour" path.
    ours_train = exact.predict(train.users[:2000], train.items[:2000])
    theirs_train = _surprise_predict(surprise_model, train.users[:2000], train.items[:2000])
    np.testing.assert_allclose(ours_train, theirs_train, atol=1e-3)
    assert ours.dtype == np.float32 and ours.min() >= 1 and ours.max() <= 10


def test_unknown_user_and_item_fall_back_to_baseline(split, train_matrix):
    x = train_matrix.tolil()
    x[0, :] = 0
    x[:, 5] = 0
    model = KNNBaseline(neighbours_stored=None).fit(x.tocsr())
    est = model.predict(np.array([0, 1]), np.array([3, 5]))
    mu = model.global_mean_
    np.testing.assert_allclose(est[0], np.clip(mu + model.bi_[3], 1, 10), atol=1e-5)
    np.testing.assert_allclose(est[1], np.clip(mu + model.bu_[1], 1, 10), atol=1e-5)
    assert model.bu_[0] == 0 and model.bi_[5] == 0


def test_pruned_neighbours_keep_rmse_within_0_005(split, train_matrix, surprise_model):
    test = split[1]
    pruned = KNNBaseline(neighbours_stored=250).fit(train_matrix)
    assert np.diff(pruned.neighbours_.indptr).max() <= 250
    theirs = _rmse(_surprise_predict(surprise_model, test.users, test.items), test.scores)
    assert abs(_rmse(pruned.predict(test.users, test.items), test.scores) - theirs) < 0.005


def test_neighbour_rows_sorted_best_first(exact):
    nb = exact.neighbours_
    for i in range(0, nb.shape[0], 97):
        row = nb.data[nb.indptr[i] : nb.indptr[i + 1]]
        assert np.all(np.diff(row) <= 0) and np.all(row > 0)
        assert i not in nb.indices[nb.indptr[i] : nb.indptr[i + 1]]


def test_recommend_scores_are_unclipped_estimates(exact, train_matrix):
    users = np.array([3, 17, 42])
    top = exact.recommend_detailed(train_matrix[users], n=50, users=users)
    for row, u in enumerate(users):
        expected = exact._estimate_pairs(np.full(50, u), top.indices[row])
        np.testing.assert_allclose(top.scores[row], expected, rtol=1e-5)
        assert np.all(np.diff(top.scores[row]) <= 0)
    assert not top.fallback.any()


def test_fold_in_reproduces_trained_user_bias(exact, train_matrix):
    # ALS ends each epoch with the user pass, so folding a training user back in
    # from their own row must land on the fitted bias: with and without ``users``,
    # the scores agree.
    users = np.arange(0, 60)
    folded = exact.recommend(train_matrix[users], n=20)
    given = exact.recommend(train_matrix[users], n=20, users=users)
    np.testing.assert_array_equal(folded[0], given[0])
    np.testing.assert_allclose(folded[1], given[1], rtol=1e-5)


def test_new_user_gets_recommendations_without_refit(split):
    train = split[0]
    counts = np.bincount(train.users)
    newcomer = int(np.argmin(np.abs(counts - 30)))  # a typical user, removed from training
    matrix = train.matrix()
    own = matrix[newcomer]
    model = KNNBaseline(neighbours_stored=200).fit(train.subset(train.users != newcomer).matrix())
    assert model.bu_[newcomer] == 0
    top = model.recommend_detailed(own, n=30)
    assert not top.fallback[0]
    assert not set(top.indices[0]) & set(own.indices)
    # Fold-in bias by the ALS formula; it shows where no neighbour scores an item.
    scores = own.data.astype(np.float64)
    bu = (scores - model.global_mean_ - model.bi_[own.indices]).sum() / (model.reg_u + own.nnz)
    full = model.recommend_detailed(own, n=model.n_items - own.nnz)
    linked = np.zeros(model.n_items, dtype=bool)
    for j in own.indices:
        linked[model.rev_target_[model.rev_indptr_[j] : model.rev_indptr_[j + 1]]] = True
    lone = ~linked[full.indices[0]]
    assert lone.any()
    np.testing.assert_allclose(
        full.scores[0][lone],
        (model.global_mean_ + bu + model.bi_[full.indices[0][lone]]),
        rtol=1e-5,
    )
    # The neighbour term moves the ranking away from pure popularity.
    assert list(top.indices[0][:10]) != list(
        full.indices[0][np.argsort(-model.bi_[full.indices[0]], kind="stable")][:10]
    )


def test_recommend_never_returns_seen_items(exact, train_matrix):
    rows = train_matrix[:40].tolil()
    rows[0, 7] = -1  # completed, unscored: seen, so never recommended back
    rows = rows.tocsr()
    idx, scores = exact.recommend(rows, n=100)
    assert idx.shape == (40, 100) and idx.dtype == np.int64 and scores.dtype == np.float32
    for r in range(40):
        assert not set(idx[r]) & set(rows[r].indices)


def test_row_without_explicit_scores_falls_back_to_item_baseline(exact):
    row = sp.csr_matrix(
        (np.array([-1.0, -1.0]), np.array([0, 9]), np.array([0, 2])), shape=(1, exact.n_items)
    )
    top = exact.recommend_detailed(row, n=25)
    assert top.fallback[0]
    order = [i for i in np.argsort(-exact.bi_, kind="stable") if i not in (0, 9)][:25]
    np.testing.assert_array_equal(top.indices[0], order)


def test_save_load_round_trip(tmp_path, exact, split, train_matrix):
    test = split[1]
    path = tmp_path / "knn.npz"
    exact.save(path)
    loaded = KNNBaseline.load(path)
    np.testing.assert_array_equal(
        loaded.predict(test.users, test.items), exact.predict(test.users, test.items)
    )
    a = exact.recommend(train_matrix[:10], n=15)
    b = loaded.recommend(train_matrix[:10], n=15)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert loaded.neighbours_stored is None and loaded.k == exact.k
    with np.load(path, allow_pickle=False) as f:
        assert "nb_data" in f.files


def test_fit_rejects_unscored_entries():
    x = sp.csr_matrix(np.array([[5.0, -1.0], [3.0, 4.0]]))
    with pytest.raises(ValueError, match="rating_scale"):
        KNNBaseline().fit(x)


def _planted(seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Two taste groups: items 0-9 (A) and 10-19 (B); half the users love A and dislike B,
    the other half the reverse. Each user rates a random 70 % of the items."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 80, 20
    taste = np.arange(n_users) % 2
    group = (np.arange(n_items) >= 10).astype(int)
    likes = taste[:, None] == group[None, :]
    scores = np.where(
        likes, rng.integers(8, 11, (n_users, n_items)), rng.integers(1, 4, (n_users, n_items))
    ).astype(np.float32)
    scores[rng.random((n_users, n_items)) > 0.7] = 0
    return sp.csr_matrix(scores), group


def test_planted_groups_become_neighbours_and_drive_recommendations():
    matrix, group = _planted()
    model = KNNBaseline(k=5, shrinkage=10, neighbours_stored=8).fit(matrix)
    nb = model.neighbours_
    for i in range(20):
        row = nb.indices[nb.indptr[i] : nb.indptr[i + 1]]
        assert len(row) > 0 and np.all(group[row] == group[i])
    # A newcomer who loved three A titles and disliked two B titles.
    newcomer = sp.csr_matrix(
        (np.array([10.0, 9.0, 10.0, 2.0, 1.0]), np.array([0, 1, 2, 10, 11]), np.array([0, 5])),
        shape=(1, 20),
    )
    idx, _ = model.recommend(newcomer, n=7)
    assert set(idx[0]) == set(range(3, 10))
    # The mirror-image newcomer gets the B titles.
    mirror = sp.csr_matrix(
        (np.array([2.0, 1.0, 10.0, 9.0]), np.array([0, 1, 10, 11]), np.array([0, 4])), shape=(1, 20)
    )
    idx, _ = model.recommend(mirror, n=8)
    assert set(idx[0]) == set(range(12, 20))


def test_similar_items_are_the_best_stored_neighbours(exact, train_matrix):
    model = KNNBaseline(neighbours_stored=30).fit(train_matrix)
    item = int(np.argmax(np.diff(train_matrix.tocsc().indptr)))  # the most-rated title
    idx, sims = model.similar_items(item, n=10)
    assert len(idx) == 10 and item not in idx
    assert np.all(np.diff(sims) <= 0) and np.all(sims > 0)
    # The same similarities the exact (unpruned) model holds for those pairs, and no
    # unpruned neighbour beats the 10th one kept.
    row = exact.neighbours_[item].toarray().ravel()
    np.testing.assert_allclose(sims, row[idx], rtol=1e-5)
    assert np.sort(row)[::-1][9] <= sims[-1] + 1e-6
    assert model.similar_items(item, n=0)[0].size == 0
    with pytest.raises(IndexError):
        model.similar_items(model.n_items)


def test_similar_items_find_the_planted_cluster():
    # Items 0-4 are loved by users 0-29 and disliked by users 30-59; items 5-9 the reverse.
    rng = np.random.default_rng(0)
    scores = np.zeros((60, 10))
    scores[:30, :5] = rng.integers(8, 11, (30, 5))
    scores[:30, 5:] = rng.integers(1, 4, (30, 5))
    scores[30:, :5] = rng.integers(1, 4, (30, 5))
    scores[30:, 5:] = rng.integers(8, 11, (30, 5))
    model = KNNBaseline(shrinkage=0).fit(sp.csr_matrix(scores))
    idx, _ = model.similar_items(2, n=4)
    assert set(idx.tolist()) == {0, 1, 3, 4}


def test_recommend_batches_bound_links_and_do_not_change_results(monkeypatch, split):
    """recommend() splits rows by gathered links (the top-N memory peak), not by count."""
    import recommender.ml.knn_baseline as kb

    model = KNNBaseline().fit(split[0].matrix())
    rows = split[0].matrix()[:120]
    whole = model.recommend_detailed(rows, n=15)
    # A row's cost: one link per stored neighbour list each of its rated titles is in.
    links = np.diff(model.rev_indptr_)
    cost = [int(links[rows[r].indices].sum()) for r in range(rows.shape[0])]
    budget = 150_000
    assert max(cost) < budget < sum(cost) // 5  # every row fits; the whole does not
    assert rows.shape[0] < kb._RECOMMEND_BUDGET // model.n_items  # links bind, not rows
    monkeypatch.setattr(kb, "_LINK_BUDGET", budget)
    batches = model._row_batches(sp.csr_matrix(rows, dtype=np.float64))
    assert len(batches) > 5
    assert batches[0][0] == 0 and batches[-1][1] == rows.shape[0]
    assert all(a[1] == b[0] for a, b in zip(batches, batches[1:], strict=False))
    for start, stop in batches:
        assert sum(cost[start:stop]) <= budget  # within the budget...
        if stop < rows.shape[0]:  # ...and as full as it can be: the next row would not fit
            assert sum(cost[start : stop + 1]) > budget
    small = model.recommend_detailed(rows, n=15)
    np.testing.assert_array_equal(small.indices, whole.indices)
    np.testing.assert_allclose(small.scores, whole.scores)
    # A row that alone costs more than the budget is a batch of its own, still scored.
    heavy = int(np.argmax(cost))
    monkeypatch.setattr(kb, "_LINK_BUDGET", cost[heavy] - 1)
    batches = model._row_batches(sp.csr_matrix(rows, dtype=np.float64))
    assert (heavy, heavy + 1) in batches
    assert all(
        sum(cost[a:b]) <= cost[heavy] - 1 for a, b in batches if (a, b) != (heavy, heavy + 1)
    )
    tiny = model.recommend_detailed(rows, n=15)
    np.testing.assert_array_equal(tiny.indices, whole.indices)
