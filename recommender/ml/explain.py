"""Why a title was recommended: which of a user's liked titles it is closest to.

Plain numpy/scipy (no Django). Item indices are positions in one engine's item index.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def liked_neighbours(
    neighbours: sp.csr_matrix,
    targets: np.ndarray,
    liked: np.ndarray,
    weights: np.ndarray,
    top: int = 2,
) -> list[list[tuple[int, float]]]:
    """For each target item, the liked items it is most similar to, strongest first.

    ``neighbours``: (n_items, n_items) CSR whose row ``t`` holds ``t``'s stored neighbours
    and their (positive) similarities, as the item-KNN model keeps them. ``liked`` (k,)
    int64 item indices and ``weights`` (k,) float > 0 (how much each was liked).
    Returns, per target, up to ``top`` ``(liked_item, similarity * weight)`` pairs with a
    positive strength; an empty list when no liked title is among its neighbours.
    """
    weight_of = np.zeros(neighbours.shape[0], dtype=np.float64)
    weight_of[np.asarray(liked, dtype=np.int64)] = np.asarray(weights, dtype=np.float64)
    out: list[list[tuple[int, float]]] = []
    for t in np.asarray(targets, dtype=np.int64):
        start, end = neighbours.indptr[t], neighbours.indptr[t + 1]
        cols = neighbours.indices[start:end]
        strength = neighbours.data[start:end] * weight_of[cols]
        out.append(_best(cols, strength, top))
    return out


def liked_lifts(
    lift: np.ndarray, targets: np.ndarray, liked: np.ndarray, weights: np.ndarray, top: int = 2
) -> list[list[tuple[int, float]]]:
    """As :func:`liked_neighbours`, from a dense (k, n_items) ``lift``: row ``r`` is how much
    liked item ``liked[r]`` alone raises each item's score (a watch-list model's one-title
    rows minus its empty-list row)."""
    liked = np.asarray(liked, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)[:, None]
    strength = lift[:, np.asarray(targets, dtype=np.int64)] * w  # (k, n_targets)
    return [_best(liked, strength[:, j], top) for j in range(strength.shape[1])]


def strongest_components(
    contributions: dict[str, np.ndarray], position: int, top: int = 2
) -> list[str]:
    """Names of the components that pushed item ``position`` up most (positive ones only).

    ``contributions``: component name -> (n_targets,) contribution to each target's score,
    as a hybrid engine reports them.
    """
    pairs = [(name, float(values[position])) for name, values in contributions.items()]
    pairs = [p for p in pairs if np.isfinite(p[1]) and p[1] > 0]
    pairs.sort(key=lambda p: -p[1])
    return [name for name, _ in pairs[:top]]


def _best(cols: np.ndarray, strength: np.ndarray, top: int) -> list[tuple[int, float]]:
    keep = strength > 0
    if not keep.any():
        return []
    cols, strength = cols[keep], strength[keep]
    order = np.argsort(-strength, kind="stable")[:top]
    return [(int(cols[i]), float(strength[i])) for i in order]
