"""Ranking and rating metrics over plain arrays: shared by the offline evaluation
(:mod:`recommender.ml.evaluation`) and the hybrid's early stopping, which would otherwise
import each other."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Root mean squared error of two (n,) arrays."""
    d = np.asarray(predicted, np.float64) - np.asarray(actual, np.float64)
    return float(np.sqrt(np.mean(d * d)))


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error of two (n,) arrays."""
    return float(np.mean(np.abs(np.asarray(predicted, np.float64) - np.asarray(actual))))


def recall_at_k(recommended: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Hits in the first ``k`` of ``recommended`` / min(|relevant|, k).

    Capping the denominator at ``k`` makes 1.0 reachable for users with many held-out
    titles (the "truncated recall" of Liang et al. 2018).
    """
    if len(relevant) == 0:
        raise ValueError("recall is undefined without relevant items")
    hits = np.isin(np.asarray(recommended)[:k], relevant).sum()
    return float(hits / min(len(relevant), k))


def ndcg_at_k(recommended: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Binary-relevance NDCG@k; the ideal list puts min(|relevant|, k) hits first."""
    if len(relevant) == 0:
        raise ValueError("NDCG is undefined without relevant items")
    top = np.asarray(recommended)[:k]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float(discounts[: len(top)][np.isin(top, relevant)].sum())
    idcg = float(discounts[: min(len(relevant), k)].sum())
    return dcg / idcg


def catalog_coverage(recommended: np.ndarray, n_items: int, k: int = 10) -> float:
    """Distinct titles in all top-``k`` lists / ``n_items``; ``recommended`` (n_users, >=k)."""
    return float(len(np.unique(np.asarray(recommended)[:, :k])) / n_items)


def topn_metrics(
    recommended: np.ndarray,
    relevant: Sequence[np.ndarray],
    n_items: int,
    ks: Sequence[int] = (10, 20),
) -> dict[str, float]:
    """Mean Recall@k and NDCG@k over users, and coverage of the top-10 lists.

    ``recommended``: (n_users, >= max(ks)) int item indices, best first;
    ``relevant``: one array of held-out item indices per row.
    """
    out: dict[str, float] = {}
    for k in ks:
        out[f"recall@{k}"] = float(
            np.mean([recall_at_k(r, t, k) for r, t in zip(recommended, relevant, strict=True)])
        )
        out[f"ndcg@{k}"] = float(
            np.mean([ndcg_at_k(r, t, k) for r, t in zip(recommended, relevant, strict=True)])
        )
    out["coverage@10"] = catalog_coverage(recommended, n_items, 10)
    return out
