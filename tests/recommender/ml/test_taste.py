"""The per-user taste model and its catalog features, on the mini MAL data (no Django)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from recommender.ml.taste import (
    _NEIGHBOUR_WEIGHT,
    CATALOG_COLUMNS,
    MIN_LABELS,
    PRIOR_FEATURE,
    CatalogFeatures,
    NotEnoughLabels,
    TasteModel,
    build_catalog_features,
    evaluate_cv,
)


def _genre_mask(catalog: pd.DataFrame, genre: str) -> np.ndarray:
    return catalog["genres"].fillna("").str.contains(genre).to_numpy()


@pytest.fixture(scope="module")
def comedy_user(mini_catalog, mini_features):
    """A planted taste: likes every Comedy, dislikes the rest; 150 train / rest test rows."""
    y = _genre_mask(mini_catalog, "Comedy").astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    return mini_features.matrix, y, order[:150], order[150:]


def test_features_align_with_catalog_rows(mini_catalog, mini_features):
    f = mini_features
    assert f.matrix.shape[0] == len(mini_catalog) == len(f.mal_ids)
    assert isinstance(f.matrix, sp.csr_matrix) and f.matrix.dtype == np.float32
    assert f.matrix.shape[1] == len(f.feature_names)
    assert f.mal_ids.dtype == np.int64
    np.testing.assert_array_equal(f.mal_ids, mini_catalog["anime_id"].to_numpy())
    # Every feature family is present, and a row carries its own genres.
    assert f.feature_names[0] == PRIOR_FEATURE  # TasteModel's offset column
    for name in ("genre:Comedy", "type:TV", "num:mean score", "prior:community score"):
        assert name in f.feature_names
    assert any(n.startswith("word:") for n in f.feature_names)
    assert any(n.startswith("latent:") for n in f.feature_names)
    assert any(n.startswith("near:") for n in f.feature_names)
    comedy = f.feature_names.index("genre:Comedy")
    has = _genre_mask(mini_catalog, "Comedy")
    assert (f.matrix[:, comedy].toarray().ravel() > 0).tolist() == has.tolist()
    assert f.density is not None and f.density.min() >= 0 and f.density.max() <= 1


def test_neighbour_columns_link_titles_that_the_same_people_rate_alike():
    # 60 raters: titles 1 and 2 deviate from their means together (rated 10 by half the
    # raters, 4 by the other half); title 3 goes the other way; 4 and 5 are noise.
    rng = np.random.default_rng(0)
    rows = []
    for user in range(60):
        fan = user % 2 == 0
        rows += [
            (user, 1, 10 if fan else 4),
            (user, 2, 10 if fan else 4),
            (user, 3, 4 if fan else 10),
            (user, 4, int(rng.integers(1, 11))),
            (user, 5, int(rng.integers(1, 11))),
        ]
    interactions = pd.DataFrame(rows, columns=["user_id", "anime_id", "rating"])
    catalog = pd.DataFrame({"anime_id": [1, 2, 3, 4, 5], "name": list("abcde")})
    f = build_catalog_features(catalog, interactions=interactions, with_density=False)
    near = [j for j, n in enumerate(f.feature_names) if n.startswith("near:")]
    assert [f.feature_names[j] for j in near] == [f"near:{m}" for m in range(1, 6)]
    block = f.matrix[:, near].toarray()
    assert np.all(np.diag(block) == 0)  # a title is not its own neighbour
    assert block[0].argmax() == 1 and block[1].argmax() == 0  # 1 and 2 find each other
    assert block[0, 2] == 0 and block[2, 0] == 0  # opposite tastes are not neighbours
    np.testing.assert_allclose(np.linalg.norm(block[:2], axis=1), _NEIGHBOUR_WEIGHT, rtol=1e-5)
    # A linear model reads the block: a like on title 1 lifts title 2 above title 3.
    model = TasteModel(lgb_weight=0.0).fit(f.matrix[[0, 3, 4, 0]], np.array([1, 0, 0, 1]))
    p = model.predict_proba(f.matrix)
    assert p[1] > p[2]


def test_rows_for_maps_ids_and_marks_unknown(mini_features):
    ids = mini_features.mal_ids
    rows = mini_features.rows_for([ids[5], 999_999_999, ids[0]])
    assert rows.tolist() == [5, -1, 0]


def test_features_without_interactions_or_optional_columns(mini_catalog):
    # The Django side builds the frame from CATALOG_COLUMNS; a catalog lacking some
    # optional columns (here: no synopsis, no source) still gets features.
    columns = [c for c in CATALOG_COLUMNS if c in mini_catalog.columns and c != "synopsis"]
    f = build_catalog_features(mini_catalog[columns].head(200), with_density=False)
    assert f.matrix.shape[0] == 200
    assert f.feature_names[0] == PRIOR_FEATURE
    assert not any(n.startswith(("word:", "latent:", "near:")) for n in f.feature_names)
    assert not any(n.startswith("prior:") for n in f.feature_names[1:])
    # Without community data the prior follows the MAL mean score.
    score = mini_catalog["score"].head(200).to_numpy()
    prior = f.matrix[:, 0].toarray().ravel()
    assert np.corrcoef(score[~np.isnan(score)], prior[~np.isnan(score)])[0, 1] > 0.99
    assert f.density is None


def test_features_reject_duplicate_ids(mini_catalog):
    doubled = pd.concat([mini_catalog.head(3), mini_catalog.head(1)])
    with pytest.raises(ValueError, match="unique"):
        build_catalog_features(doubled, with_density=False)


def test_features_save_load_round_trip(mini_features, tmp_path):
    mini_features.save(tmp_path / "features")
    loaded = CatalogFeatures.load(tmp_path / "features")
    np.testing.assert_array_equal(loaded.mal_ids, mini_features.mal_ids)
    assert loaded.feature_names == mini_features.feature_names
    assert (loaded.matrix != mini_features.matrix).nnz == 0
    np.testing.assert_array_equal(loaded.density, mini_features.density)
    assert loaded.rows_for([mini_features.mal_ids[7]]).tolist() == [7]


def test_one_class_labels_raise_not_enough_labels(mini_features):
    X = mini_features.matrix[:20]
    with pytest.raises(NotEnoughLabels, match="at least one like and one dislike"):
        TasteModel().fit(X, np.ones(20, dtype=int))
    with pytest.raises(NotEnoughLabels, match="at least one like and one dislike"):
        TasteModel().fit(X, np.zeros(20, dtype=int))


def test_too_few_labels_raise_not_enough_labels(mini_features):
    n = MIN_LABELS - 1
    y = np.array([1, 0] + [1] * (n - 2))
    with pytest.raises(NotEnoughLabels, match=f"at least {MIN_LABELS} labels"):
        TasteModel().fit(mini_features.matrix[:n], y)
    # At MIN_LABELS with both classes it trains.
    y = np.array([1, 0] + [1] * (MIN_LABELS - 2))
    proba = (
        TasteModel().fit(mini_features.matrix[:MIN_LABELS], y).predict_proba(mini_features.matrix)
    )
    assert proba.shape == (mini_features.matrix.shape[0],)


def test_labels_must_be_binary(mini_features):
    with pytest.raises(ValueError, match="0 \\(dislike\\) or 1"):
        TasteModel().fit(mini_features.matrix[:6], np.array([0, 1, 2, 1, 0, 1]))


def test_model_learns_a_planted_taste(comedy_user, mini_features):
    X, y, train, test = comedy_user
    model = TasteModel(random_state=0).fit(X[train], y[train])
    proba = model.predict_proba(X[test])
    assert proba.dtype == np.float64 and proba.shape == (len(test),)
    assert np.all((proba >= 0) & (proba <= 1))
    assert average_precision_score(y[test], proba) > 0.9
    assert proba[y[test] == 1].mean() > proba[y[test] == 0].mean() + 0.3
    explained = model.explain(mini_features.feature_names, top=5)
    assert explained["up"][0][0] == "genre:Comedy"
    assert all(w > 0 for _, w in explained["up"]) and all(w < 0 for _, w in explained["down"])
    shown = [n for n, _ in explained["up"] + explained["down"]]
    assert not any(n.startswith(("latent:", "near:", PRIOR_FEATURE)) for n in shown)


def test_model_beats_base_rate_for_a_real_user(mini_interactions, mini_features):
    # The mini user with the most explicit ratings: like >= 8, dislike <= 6.
    explicit = mini_interactions[(mini_interactions.rating > 0) & (mini_interactions.rating != 7)]
    user = explicit.groupby("user_id").size().idxmax()
    rows = explicit[explicit.user_id == user]
    X = mini_features.matrix[mini_features.rows_for(rows.anime_id)]
    y = (rows.rating.to_numpy() >= 8).astype(int)
    metrics = evaluate_cv(X, y, folds=5, random_state=0)
    assert metrics["average_precision"] > metrics["base_rate"] + 0.05
    assert metrics["roc_auc"] > 0.65


def test_fit_is_deterministic_for_a_random_state(comedy_user):
    X, y, train, _ = comedy_user
    a = TasteModel(random_state=3).fit(X[train], y[train]).predict_proba(X)
    b = TasteModel(random_state=3).fit(X[train], y[train]).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_save_load_gives_identical_predictions(comedy_user, tmp_path):
    X, y, train, _ = comedy_user
    model = TasteModel(random_state=0).fit(X[train], y[train])
    model.save(tmp_path / "model")
    assert (tmp_path / "model" / "lightgbm.txt").read_text().startswith("tree")
    loaded = TasteModel.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_unfitted_model_refuses_to_predict(mini_features):
    with pytest.raises(RuntimeError, match="not fitted"):
        TasteModel().predict_proba(mini_features.matrix[:3])


def test_unknown_parameter_is_rejected():
    with pytest.raises(TypeError, match="num_leafs"):
        TasteModel(num_leafs=3)


def test_evaluate_cv_reports_out_of_fold_metrics(comedy_user):
    X, y, train, _ = comedy_user
    metrics = evaluate_cv(X[train], y[train], folds=5, random_state=0)
    assert metrics["n_labels"] == 150
    assert metrics["n_pos"] + metrics["n_neg"] == 150
    assert metrics["base_rate"] == pytest.approx(y[train].mean())
    assert 0.85 < metrics["average_precision"] <= 1.0
    assert 0.5 < metrics["roc_auc"] <= 1.0
    curve = metrics["pr_curve"]
    assert len(curve["precision"]) == len(curve["recall"]) <= 101
    assert all(0.0 <= v <= 1.0 for v in curve["precision"] + curve["recall"])


def test_evaluate_cv_needs_two_of_each_class(mini_features):
    y = np.array([1] * 9 + [0])
    with pytest.raises(NotEnoughLabels, match="two likes and two dislikes"):
        evaluate_cv(mini_features.matrix[:10], y)


def test_community_prior_ranks_titles_the_community_dislikes_low(mini_interactions, mini_features):
    rated = mini_interactions[mini_interactions.rating > 0]
    stats = rated.groupby("anime_id").rating.agg(["mean", "size"])
    stats = stats[stats["size"] >= 20]
    prior = mini_features.matrix[:, 0].toarray().ravel()
    rows = mini_features.rows_for(stats.index)
    # Higher community mean -> higher prior log-odds of a like.
    assert np.corrcoef(stats["mean"], prior[rows])[0, 1] > 0.7


def test_few_labels_keep_the_prior_ranking(mini_features):
    # Two labels each way say little: the ranking stays close to the community prior
    # instead of being replaced by whatever separates four titles.
    X = mini_features.matrix
    prior = X[:, 0].toarray().ravel()
    order = np.argsort(prior)
    rows = np.r_[order[600:602], order[900:902]]
    model = TasteModel(random_state=0).fit(X[rows], np.array([1, 0, 0, 1]))
    proba = model.predict_proba(X)
    rho = pd.Series(proba).corr(pd.Series(prior), method="spearman")
    assert rho > 0.8
    no_offset = TasteModel(random_state=0, offset_column=None).fit(X[rows], np.array([1, 0, 0, 1]))
    rho_none = pd.Series(no_offset.predict_proba(X)).corr(pd.Series(prior), method="spearman")
    assert rho > rho_none


@pytest.mark.parametrize("C", [0.1, 1.0, 10.0])
def test_linear_part_matches_scikit_learn_without_offset(comedy_user, C):
    from recommender.ml.taste import _fit_logistic

    X, y, train, _ = comedy_user
    Xt = X[train].astype(np.float64)
    coef, intercept = _fit_logistic(Xt, y[train], np.zeros(len(train)), np.ones(len(train)), C)
    ref = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(Xt, y[train])
    np.testing.assert_allclose(coef, ref.coef_.ravel(), atol=1e-4)
    assert intercept == pytest.approx(ref.intercept_[0], abs=1e-4)
