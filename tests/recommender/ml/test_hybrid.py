"""The learned hybrid ranking on the mini MAL data: plain pytest, no Django."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.ml.evaluation import engines, evaluate_topn
from recommender.ml.hybrid import (
    ContentScorer,
    HybridRanker,
    _link_features,
    holdout_positives,
    split_signals,
)
from recommender.ml.preferences import DEFAULT_RULE, PreferenceRule
from tests.recommender.ml.conftest import MINI

SMALL = {
    "nn_params": {"hidden": 32, "epochs": 8, "lr": 3e-3, "batch_size": 64},
    "als_params": {"factors": 16, "iterations": 5},
    "candidates": 40,
    "n_estimators": 60,
    "min_child_samples": 20,
}


@pytest.fixture(scope="module")
def lists(mini_topn) -> sp.csr_matrix:
    """Training lists in the hybrid's format: 1-10 scores, -1 for unscored."""
    return mini_topn[0].matrix("score")


@pytest.fixture(scope="module")
def catalog_features(mini_ratings) -> sp.csr_matrix:
    """Genre and studio indicators per title of the mini index (for ContentScorer)."""
    catalog = pd.read_csv(MINI / "catalog.csv").set_index("anime_id")
    rows = catalog.loc[mini_ratings.item_ids]
    tags = (rows["genres"].fillna("") + "," + rows["studios"].fillna("")).str.split(",")
    vocab = sorted({t.strip() for ts in tags for t in ts if t.strip()})
    col = {t: j for j, t in enumerate(vocab)}
    r, c = zip(
        *[(i, col[t.strip()]) for i, ts in enumerate(tags) for t in ts if t.strip()],
        strict=True,
    )
    return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(len(rows), len(vocab)))


@pytest.fixture(scope="module")
def model(lists, catalog_features) -> HybridRanker:
    return HybridRanker(**SMALL, side_scorers=[ContentScorer(catalog_features)]).fit(lists)


def test_holdout_takes_only_positives_of_users_with_five(lists):
    rest, held = holdout_positives(lists, fraction=0.2, seed=2)
    x = lists.tocsr()
    assert rest.nnz + sum(len(v) for v in held.values()) == x.nnz
    for u, items in list(held.items())[:50]:
        scores = x[u, items].toarray().ravel()
        assert np.all((scores >= 8) | (scores == -1))
        assert rest[u, items].nnz == 0
        positives = int(((x[u].data >= 8) | (x[u].data == -1)).sum())
        assert positives >= 5 and len(items) == max(1, round(0.2 * positives))


def test_split_signals_low_scores_are_dislikes_and_unscored_are_likes():
    x = sp.csr_matrix(np.array([[2, 4, 5, -1, 9, 0]], dtype=np.float32))
    liked, disliked, watched = split_signals(x)
    assert liked.indices.tolist() == [2, 3, 4]
    assert disliked.indices.tolist() == [0, 1]
    assert watched.indices.tolist() == [0, 1, 2, 3, 4]
    assert x.nnz == 5  # the input is left as it was
    # The rule decides: with dislikes up to 5, the 5 counts against too.
    _, wider, _ = split_signals(x, PreferenceRule(like_min=8, dislike_max=5))
    assert wider.indices.tolist() == [0, 1, 2]


def test_the_rule_is_validated_and_vectorised():
    rule = PreferenceRule(like_min=8, dislike_max=4)
    scores = np.array([-1, 0, 1, 4, 5, 7, 8, 10])
    assert rule.is_like(scores).tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    assert rule.is_dislike(scores).tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    assert rule.is_positive(scores).tolist() == [1, 0, 0, 0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="dislike_max < like_min"):
        PreferenceRule(like_min=5, dislike_max=5)


def test_link_features_take_the_strongest_link_and_the_favourites_link():
    """Hand-made weights: user 0 liked 0 (scored 10) and 1 (scored 6), disliked 2;
    user 1 listed nothing scored, only unscored completions of 1 and 2."""
    b = np.zeros((5, 5), dtype=np.float32)
    b[0, 3], b[1, 3], b[2, 3] = 0.2, 0.5, 0.9  # the disliked title's link must not count
    b[0, 4], b[1, 4] = -0.1, 0.3
    b[2, 4] = 0.4
    x = sp.csr_matrix(
        np.array([[10, 6, 2, 0, 0], [0, -1, -1, 0, 0]], dtype=np.float32), dtype=np.float32
    )
    rows, items = np.array([0, 0, 1, 1]), np.array([3, 4, 3, 4])
    f = _link_features(b, x, rows, items)
    np.testing.assert_allclose(f["ease_link_max"], [0.5, 0.3, 0.9, 0.4])
    np.testing.assert_allclose(f["ease_link_fav"], [0.2, -0.1, 0.9, 0.4])  # user 0: title 0
    np.testing.assert_allclose(f["ease_link_share"], [1.0, 0.5, 1.0, 1.0])


def test_recommend_excludes_listed_titles_and_is_deterministic(model, lists):
    idx, scores = model.recommend(lists[:40], n=20)
    again, _ = model.recommend(lists[:40], n=20)
    np.testing.assert_array_equal(idx, again)
    assert idx.shape == (40, 20) and (idx >= 0).all()
    for row in range(40):
        assert not set(idx[row]) & set(lists[row].indices)
        assert len(set(idx[row])) == 20
        assert np.all(np.diff(scores[row]) <= 0)


def test_new_user_from_list_alone_and_empty_list(model, mini_ratings):
    n = mini_ratings.n_items
    counts = np.diff(mini_ratings.matrix("binary").tocsc().indptr)
    popular = np.argsort(-counts)[:8]
    row = sp.csr_matrix(
        (np.array([9, 8, 10, -1, 7, 9, 8, 3], np.float32), ([0] * 8, popular)), shape=(1, n)
    )
    empty = sp.csr_matrix((1, n), dtype=np.float32)
    idx, _ = model.recommend(sp.vstack([row, empty]).tocsr(), n=10)
    assert not set(idx[0]) & set(popular)
    assert (idx >= 0).all() and len(set(idx[1])) == 10


def test_contributions_add_up_to_the_score(model, lists):
    top = model.recommend_detailed(lists[:15], n=10)
    assert top.groups[:5] == ("ease", "watchlist_nn", "als", "knn_baseline", "popularity")
    assert "content" in top.groups and top.groups[-1] == "user"
    total = top.contributions.sum(axis=2) + top.base_value
    np.testing.assert_allclose(total, top.scores, atol=1e-3)
    # Several components matter somewhere, not one feature doing all the work.
    share = np.abs(top.contributions).sum(axis=(0, 1))
    assert (share > 0.05 * share.sum()).sum() >= 3


def test_because_names_liked_titles_of_the_user(model, lists):
    rows = lists[:20]
    top = model.recommend_detailed(rows, n=10)
    found = 0
    for r in range(20):
        # Only likes (>= 8) are named: a 7 or an unscored completion never is.
        row = rows[r]
        mine = set(row.indices[row.data >= DEFAULT_RULE.like_min].tolist())
        for because in top.because[r]:
            for title in because[because >= 0]:
                assert int(title) in mine
                found += 1
    assert found > 20


def test_low_scores_count_against_a_titles_neighbours(model, lists):
    """The same list except one title scored 2 instead of 9: titles close to it drop."""
    ease_b = model.components.ease.B
    counts = model.components.counts
    anchor = int(np.argsort(-counts)[5])
    rng = np.random.default_rng(0)
    others = rng.choice(np.argsort(-counts)[20:200], 15, replace=False)
    n = lists.shape[1]

    def row(anchor_score):
        cols = np.r_[anchor, others]
        vals = np.r_[anchor_score, np.full(15, 8.0)].astype(np.float32)
        return sp.csr_matrix((vals, (np.zeros(16, int), cols)), shape=(1, n))

    liked = model.recommend(row(9.0), n=200)
    disliked = model.recommend(row(2.0), n=200)
    neighbours = [j for j in np.argsort(-ease_b[anchor])[:30] if j not in others]

    def mean_rank(result):
        pos = {int(t): p for p, t in enumerate(result[0][0])}
        return np.mean([pos.get(int(j), 200) for j in neighbours])

    assert mean_rank(disliked) > mean_rank(liked) + 5


def test_validation_report_compares_with_every_component(model):
    rep = model.validation_
    assert rep["best_iteration"] >= 1 and rep["ndcg_users"] > 10
    for name in ("hybrid", "ease", "watchlist_nn", "als", "knn_baseline"):
        assert 0.0 <= rep["metrics"][name]["ndcg@10"] <= 1.0
    assert rep["metrics"]["hybrid"]["ndcg@10"] > rep["metrics"]["knn_baseline"]["ndcg@10"]


def test_save_load_round_trip(tmp_path, model, lists):
    model.save(tmp_path / "hybrid")
    loaded = HybridRanker.load(tmp_path / "hybrid")
    a = model.recommend_detailed(lists[:25], n=10)
    b = loaded.recommend_detailed(lists[:25], n=10)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)
    assert b.groups == a.groups and loaded.validation_ == model.validation_
    # The rule it was trained with is saved with it; artifacts from before it are the
    # defaults (the rule that was hard-coded then).
    assert loaded.rule == model.rule == DEFAULT_RULE
    meta_path = tmp_path / "hybrid" / "hybrid.json"
    meta = json.loads(meta_path.read_text())
    assert (meta["config"]["like_min"], meta["config"]["dislike_max"]) == (8, 4)
    del meta["config"]["like_min"], meta["config"]["dislike_max"]
    meta_path.write_text(json.dumps(meta))
    assert HybridRanker.load(tmp_path / "hybrid").rule == DEFAULT_RULE


def test_fit_rejects_bad_values():
    x = sp.csr_matrix(np.array([[11.0, 3.0]], dtype=np.float32))
    with pytest.raises(ValueError, match="1-10 or -1"):
        HybridRanker(**SMALL).fit(x)


def test_offline_protocol_feeds_scores_and_unscored(mini_topn):
    """The ``hybrid`` engine of the comparison learns from 1-10 and -1 entries."""
    engine = engines(quick=True)["hybrid"]
    assert engine.kind == "scored"
    train, test = mini_topn
    model = HybridRanker(**SMALL)
    users = np.array(sorted(test))[:60]
    res = evaluate_topn(model, train, test, kind="scored", users=users)
    assert set(np.unique(model.components.knn.user_items_.data)) <= set(range(1, 11))
    assert res["n_users"] == 60 and 0.05 < res["ndcg@10"] <= 1.0


def test_excluded_titles_leave_the_ranking_and_n_still_come(model, lists):
    full, _ = model.recommend(lists[:5], n=20)
    hidden = np.unique(full[:, :10])  # every row's best ten, hidden
    idx, _ = model.recommend(lists[:5], n=20, exclude=hidden)
    assert (idx >= 0).all() and not set(idx.ravel()) & set(hidden.tolist())
    for row in range(5):
        assert len(set(idx[row])) == 20


def test_a_ranking_explains_the_picked_titles_as_the_detailed_call_does(model, lists):
    """Serving explains only the cards it keeps; the figures are those of explaining all."""
    rows = lists[3:4]
    detailed = model.recommend_detailed(rows, n=30)
    ranking = model.rank(rows, n=30)
    np.testing.assert_array_equal(ranking.indices, detailed.indices)
    picked = np.array([0, 4, 5, 17, 29])
    some = ranking.explain(0, picked)
    np.testing.assert_array_equal(some.indices[0], detailed.indices[0, picked])
    np.testing.assert_allclose(some.contributions[0], detailed.contributions[0, picked], atol=1e-5)
    np.testing.assert_array_equal(some.because[0], detailed.because[0, picked])
    assert some.base_value == pytest.approx(detailed.base_value)


@pytest.mark.parametrize("left", [0, 3, 40])
def test_a_list_of_nearly_every_title_gets_the_titles_left(model, lists, left):
    """A 10,000-entry export leaves fewer unseen titles than the ranker's slots: it gets
    those, best first, and the rest of the row says none (-1, -inf)."""
    n_items = lists.shape[1]
    rng = np.random.default_rng(0)
    unlisted = np.sort(rng.choice(n_items, left, replace=False))
    listed = np.setdiff1d(np.arange(n_items), unlisted)
    row = sp.csr_matrix(
        (np.full(len(listed), 8.0, np.float32), (np.zeros(len(listed), int), listed)),
        shape=(1, n_items),
    )
    for exclude in (None, unlisted[:1]):
        expected = set(unlisted.tolist()) - set(() if exclude is None else exclude.tolist())
        idx, scores = model.recommend(row, n=n_items, exclude=exclude)
        got = idx[0][idx[0] >= 0]
        assert set(got.tolist()) == expected and len(got) == len(expected)
        assert (idx[0][len(got) :] == -1).all() and np.isneginf(scores[0][len(got) :]).all()
        assert (np.diff(scores[0][: len(got)]) <= 0).all()
        ranking = model.rank(row, n=n_items, exclude=exclude)
        np.testing.assert_array_equal(ranking.indices, idx)
        detailed = model.recommend_detailed(row, n=n_items, exclude=exclude)
        np.testing.assert_array_equal(detailed.indices, idx)
        assert (detailed.because[0, len(got) :] == -1).all()
