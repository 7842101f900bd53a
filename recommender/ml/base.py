"""The one interface every model implements, so baselines and engines swap freely.

Orientation everywhere: rows are users, columns are items (``user_items``), CSR, float32.
Item indices are positions in the item index built by :mod:`recommender.ml.data`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.sparse as sp


class Recommender(Protocol):
    def fit(self, user_items: sp.csr_matrix) -> Recommender:
        """Learn from a (n_users, n_items) CSR matrix; explicit scores or implicit 1s."""
        ...

    def recommend(self, user_items: sp.csr_matrix, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for each row of ``user_items`` (users' current lists).

        Rows need not be training users: a new user is scored from their row alone.
        Items present in a row are never recommended back to that row.
        Returns ``(indices, scores)``, both shaped (n_rows, n): int64 and float32,
        best first.
        """
        ...


def top_n_excluding(
    scores: np.ndarray, seen: sp.csr_matrix, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rank each row of dense ``scores`` (n_rows, n_items), masking the items in ``seen``.

    Uses argpartition so a row costs O(n_items), not O(n_items log n_items). Ranks in the
    input's precision (close float64 estimates stay distinct); scores come back float32.
    """
    scores = np.array(scores, copy=True)
    rows, cols = seen.nonzero()
    scores[rows, cols] = -np.inf
    n = min(n, scores.shape[1])
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    return idx, np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
