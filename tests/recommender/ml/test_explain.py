"""Which liked titles explain a recommendation (plain numpy, no Django)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.ml.explain import liked_lifts, liked_neighbours, strongest_components


def test_liked_neighbours_weigh_similarity_by_how_much_each_was_liked():
    # Item 0's neighbours: 1 (0.9), 2 (0.5), 3 (0.4); item 4's: 3 (0.8) only.
    rows = [0, 0, 0, 4]
    cols = [1, 2, 3, 3]
    sims = [0.9, 0.5, 0.4, 0.8]
    nb = sp.csr_matrix((sims, (rows, cols)), shape=(5, 5))
    liked = np.array([2, 3])
    weights = np.array([4.0, 1.0])  # 2 was loved (10/10), 3 merely liked
    found = liked_neighbours(nb, np.array([0, 4, 1]), liked, weights)
    assert found[0] == [(2, 2.0), (3, 0.4)]  # 0.5 * 4 beats 0.4 * 1; item 1 is not liked
    assert found[1] == [(3, 0.8)]
    assert found[2] == []  # no liked title among its neighbours


def test_liked_lifts_pick_the_titles_that_raise_the_target_most():
    lift = np.array([[0.1, 2.0, -1.0], [0.5, 0.2, -0.5]])  # rows: liked items 7 and 9
    found = liked_lifts(lift, np.array([0, 1, 2]), np.array([7, 9]), np.array([1.0, 1.0]), top=1)
    assert found == [[(9, 0.5)], [(7, 2.0)], []]


def test_strongest_components_keep_positive_ones_in_order():
    contrib = {
        "knn": np.array([0.2, -1.0]),
        "taste": np.array([0.5, 0.0]),
        "pop": np.array([0.1, 0.3]),
    }
    assert strongest_components(contrib, 0) == ["taste", "knn"]
    assert strongest_components(contrib, 1) == ["pop"]
