"""Queue strategies for the labeling queue (no Django)."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.ml.active_learning import cold_start_order, select_queue


def _genres(catalog, rows) -> set[str]:
    out: set[str] = set()
    for value in catalog["genres"].iloc[rows].fillna(""):
        out |= {g.strip() for g in value.split(",") if g.strip()}
    return out


def test_cold_start_is_a_permutation_of_the_catalog(mini_catalog):
    order = cold_start_order(mini_catalog, random_state=0)
    assert order.dtype == np.int64
    assert sorted(order.tolist()) == list(range(len(mini_catalog)))


def test_cold_start_shows_popular_titles_spread_across_genres(mini_catalog):
    order = cold_start_order(mini_catalog, random_state=0)
    members = mini_catalog["members"].to_numpy()
    by_members = np.argsort(-members)
    first = order[:10]
    # Popular: the first ten come from the 200 most-watched titles.
    assert set(first.tolist()) <= set(by_members[:200].tolist())
    # Spread: they cover clearly more genres than the ten most popular titles do.
    assert len(_genres(mini_catalog, first)) >= len(_genres(mini_catalog, by_members[:10])) + 4
    # No single genre dominates the first ten.
    counts: dict[str, int] = {}
    for value in mini_catalog["genres"].iloc[first].fillna(""):
        for g in {g.strip() for g in value.split(",")}:
            counts[g] = counts.get(g, 0) + 1
    assert max(counts.values()) <= 6


def test_cold_start_spreads_years(mini_catalog):
    order = cold_start_order(mini_catalog, random_state=0)
    years = (
        mini_catalog["premiered"].iloc[order[:20]].dropna().str.extract(r"(\d{4})")[0].astype(int)
    )
    assert years.max() - years.min() >= 10


def test_uncertainty_picks_closest_to_half_first():
    proba = np.array([0.9, 0.52, 0.1, 0.45, 0.7, 0.5, 0.3])
    eligible = np.ones(7, dtype=bool)
    picked = select_queue(proba, eligible, n=3, exploration=0.0)
    assert picked == [(5, "uncertainty"), (1, "uncertainty"), (3, "uncertainty")]


def test_queue_never_returns_ineligible_or_duplicate_rows():
    rng = np.random.default_rng(0)
    proba = rng.random(5000)
    eligible = rng.random(5000) < 0.3
    proba[~eligible] = 0.5  # the most uncertain rows are all ineligible
    for strategy in ("uncertainty", "random"):
        picked = select_queue(proba, eligible, n=50, strategy=strategy, rng=rng)
        rows = [r for r, _ in picked]
        assert len(rows) == 50 == len(set(rows))
        assert eligible[rows].all()


def test_exploration_share_is_random_and_labeled():
    proba = np.linspace(0, 1, 1001)
    eligible = np.ones(1001, dtype=bool)
    picked = select_queue(proba, eligible, n=20, exploration=0.2, rng=np.random.default_rng(1))
    reasons = [reason for _, reason in picked]
    assert reasons.count("uncertainty") == 16 and reasons.count("exploration") == 4
    uncertain = [r for r, reason in picked if reason == "uncertainty"]
    assert max(abs(proba[uncertain] - 0.5)) <= 0.0085
    explored = [r for r, reason in picked if reason == "exploration"]
    assert not set(explored) & set(uncertain)


def test_queue_returns_fewer_when_few_rows_are_eligible():
    proba = np.full(10, 0.5)
    eligible = np.zeros(10, dtype=bool)
    eligible[[2, 7]] = True
    picked = select_queue(proba, eligible, n=5, rng=np.random.default_rng(0))
    assert sorted(r for r, _ in picked) == [2, 7]
    assert select_queue(proba, np.zeros(10, dtype=bool), n=5) == []


def test_density_strategy_prefers_typical_titles(mini_features):
    n = mini_features.matrix.shape[0]
    proba = np.full(n, 0.5)  # equally uncertain everywhere: density decides
    picked = select_queue(
        proba,
        np.ones(n, dtype=bool),
        n=10,
        strategy="density",
        exploration=0.0,
        features=mini_features,
    )
    rows = [r for r, _ in picked]
    assert mini_features.density[rows].min() >= np.quantile(mini_features.density, 0.99)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        select_queue(np.zeros(3), np.ones(3, dtype=bool), n=1, strategy="greedy")
    with pytest.raises(ValueError, match="rows"):
        select_queue(np.zeros(3), np.ones(4, dtype=bool), n=1)
    with pytest.raises(ValueError, match="density"):
        select_queue(np.zeros(3), np.ones(3, dtype=bool), n=1, strategy="density")


def test_density_on_part_of_the_catalog_uses_the_given_rows(mini_features):
    # proba covers 5 catalog rows only (a simulated user's pool); positions come back.
    rows = np.argsort(mini_features.density)[[0, 1, 2, -2, -1]]
    picked = select_queue(
        np.full(5, 0.5),
        np.ones(5, dtype=bool),
        n=2,
        strategy="density",
        exploration=0.0,
        features=mini_features,
        rows=rows,
    )
    assert sorted(r for r, _ in picked) == [3, 4]


def _features(rows: list[list[float]]):
    import scipy.sparse as sp

    from recommender.ml.taste import CatalogFeatures

    matrix = sp.csr_matrix(np.array(rows, dtype=np.float32))
    return CatalogFeatures(np.arange(len(rows)), matrix, [f"f{j}" for j in range(len(rows[0]))])


def _variance_queue(proba, eligible, n, features, labeled, **kwargs):
    return select_queue(
        proba,
        eligible,
        n=n,
        strategy="variance",
        features=features,
        labeled=labeled,
        **{"exploration": 0.0, **kwargs},
    )


def test_variance_batch_skips_near_duplicates():
    # Rows 0 and 1 are the same title twice; once one is answered the other teaches little.
    features = _features([[3, 0], [3, 0], [0, 3], [0, 2.5]])
    proba = np.array([0.5, 0.5, 0.5, 0.5])
    picked = _variance_queue(proba, np.ones(4, dtype=bool), 2, features, np.zeros(4, bool))
    rows = sorted(r for r, _ in picked)
    assert rows[0] in (0, 1) and rows[1] in (2, 3)
    assert {reason for _, reason in picked} == {"uncertainty"}


def test_variance_prefers_titles_unlike_the_labeled_ones():
    # Equally uncertain candidates 1 and 2; row 0 (labeled) already covers row 1's features.
    features = _features([[2, 0], [2, 0], [0, 2]])
    proba = np.array([0.5, 0.5, 0.5])
    labeled = np.array([True, False, False])
    picked = _variance_queue(proba, ~labeled, 1, features, labeled)
    assert picked == [(2, "uncertainty")]


def test_variance_prefers_a_title_many_others_resemble():
    # Row 0 is an outlier, rows 1-5 one kind of title: all equally uncertain, so plain
    # uncertainty sampling takes the first row; an answer about the kind teaches five.
    features = _features([[0, 1.2], [1, 0.1], [1, 0], [0.9, 0], [1, 0.2], [0.8, 0.1]])
    proba = np.full(6, 0.5)
    assert select_queue(proba, np.ones(6, dtype=bool), n=1, exploration=0.0)[0][0] == 0
    picked = _variance_queue(proba, np.ones(6, dtype=bool), 1, features, np.zeros(6, bool))
    assert picked[0][0] != 0


def _variance_order_naive(X, proba, labeled, candidates, n, prior):
    """The greedy batch written plainly: the posterior covariance rebuilt for every pick."""
    X = X.toarray().astype(np.float64)
    p = np.clip(proba, 1e-3, 1 - 1e-3)
    w = p * (1 - p)
    answered = list(labeled)
    chosen = []
    for _ in range(n):
        best, best_gain = None, -np.inf
        Xa = X[answered]
        A = prior * Xa @ Xa.T + np.diag(1 / w[answered]) if answered else np.zeros((0, 0))
        Xc = X[candidates]
        S = prior * Xc @ Xc.T
        if answered:
            Kca = prior * Xc @ Xa.T
            S -= Kca @ np.linalg.solve(A, Kca.T)
        for i, c in enumerate(candidates):
            if c in chosen:
                continue
            gain = (p[candidates] * S[:, i] ** 2).sum() / (S[i, i] + 1 / w[c])
            if gain > best_gain:
                best, best_gain = c, gain
        chosen.append(best)
        answered.append(best)
    return chosen


def test_variance_order_matches_the_plain_greedy_computation():
    import scipy.sparse as sp

    from recommender.ml import active_learning as al

    rng = np.random.default_rng(3)
    X = sp.random(120, 30, density=0.2, random_state=3).toarray()
    X[:, 0] = rng.normal(size=120)  # a column set for every title: the dense path
    X = sp.csr_matrix(X)
    proba = rng.random(120)
    labeled = np.arange(8)
    candidates = np.arange(8, 120)
    fast = candidates[al.variance_order(X, proba, labeled, candidates, 6)]
    naive = _variance_order_naive(X, proba, labeled, candidates, 6, al._VARIANCE_PRIOR)
    assert fast.tolist() == naive


def test_variance_pool_keeps_the_most_uncertain_candidates():
    from recommender.ml import active_learning as al

    # Row 0 would be the best question (the largest, at P(like) 0.8), but the pool keeps
    # the 3 most uncertain rows only.
    features = _features([[3, 0], [1, 0], [0, 1], [0, 1.1]])
    proba = np.array([0.8, 0.5, 0.5, 0.5])
    none = np.array([], int)
    assert al.variance_order(features.matrix, proba, none, np.arange(4), 1, pool=4).tolist() == [0]
    picked = al.variance_order(features.matrix, proba, none, np.arange(4), 1, pool=3)
    assert picked.tolist()[0] in (1, 2, 3)


def test_variance_keeps_queue_rules(mini_features):
    n = mini_features.matrix.shape[0]
    rng = np.random.default_rng(0)
    proba = rng.random(n)
    labeled = rng.random(n) < 0.02
    eligible = ~labeled & (rng.random(n) > 0.3)
    picked = _variance_queue(proba, eligible, 20, mini_features, labeled, exploration=0.1, rng=rng)
    rows = [r for r, _ in picked]
    assert len(rows) == 20 == len(set(rows))
    assert eligible[rows].all()
    assert [reason for _, reason in picked].count("exploration") == 2
    with pytest.raises(ValueError, match="variance"):
        select_queue(proba, eligible, n=5, strategy="variance", features=mini_features)


def test_queue_orders_put_the_stored_order_first_then_the_margin():
    from recommender.ml.active_learning import queue_orders

    proba = np.array([0.9, 0.52, 0.1, 0.45, 0.7, 0.5, 0.3])
    eligible = np.array([True, True, True, True, True, True, False])
    # Row 6 is no longer eligible (answered since the order was stored).
    exploit, explore = queue_orders(proba, eligible, np.array([4, 6, 0]), np.random.default_rng(0))
    assert exploit.tolist() == [4, 0, 5, 1, 3, 2]
    assert sorted(explore.tolist()) == [0, 1, 2, 3, 4, 5]
