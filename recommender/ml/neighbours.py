"""Each title's best item neighbours, ranked once when a model is saved.

A title page shows a title's most similar titles. Ranking them from the model at request
time means loading the whole model into every web worker (the item-KNN's neighbour lists
and rating matrix, the watch-list network's weights: hundreds of MB at full scale) for
one row of it. Instead the engines that name neighbours rank every title's best
``NEIGHBOURS_KEPT`` when the model is saved, into two small arrays beside it in the
version's folder; serving memory-maps them and reads one row.

Files (``np.save``, no pickle), rows in the model's item index:
``neighbours_items.npy`` (n_items, width) int32 item indices, best first, -1 past the
last neighbour; ``neighbours_scores.npy`` (n_items, width) float32, NaN past the last.
``width`` is at most ``NEIGHBOURS_KEPT`` (fewer when no title has that many).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# The similar-titles API's largest request (50 cards) times its overfetch (6 neighbours
# per card: many collapse into one franchise card or are hidden at serving time).
NEIGHBOURS_KEPT = 300
ITEMS_FILE = "neighbours_items.npy"
SCORES_FILE = "neighbours_scores.npy"
# Rows of dense scores ranked at once: (rows x n_items) float32, ~50 MB at 12k titles.
_SCORE_BATCH = 1024


def neighbours_from_sorted_rows(
    similarities: sp.csr_matrix, k: int = NEIGHBOURS_KEPT
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` entries of each row of a CSR whose rows are already sorted best
    first (the item-KNN's neighbour lists). Returns (indices int32, scores float32),
    each (n_rows, width) with width = min(k, longest row), padded with -1 / NaN."""
    sims = sp.csr_matrix(similarities)
    lengths = np.minimum(np.diff(sims.indptr), k)
    width = int(lengths.max(initial=0))
    indices = np.full((sims.shape[0], width), -1, dtype=np.int32)
    scores = np.full((sims.shape[0], width), np.nan, dtype=np.float32)
    slot = np.arange(width)
    valid = slot[None, :] < lengths[:, None]
    entry = (sims.indptr[:-1, None] + slot[None, :])[valid]
    indices[valid] = sims.indices[entry]
    scores[valid] = sims.data[entry]
    return indices, scores


def neighbours_from_scores(
    score_rows: Callable[[np.ndarray], np.ndarray],
    n_items: int,
    k: int = NEIGHBOURS_KEPT,
    *,
    items: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's best ``k`` other items by ``score_rows(batch)`` (dense (len(batch),
    n_items) scores of the one-item lists ``batch``): the model's ranking for a list
    holding that title alone, the title itself left out.

    ``items``: the item indices that have neighbours (default all); the others get an
    empty row, as do non-finite scores. Ties rank the smaller index first.
    Returns (indices int32, scores float32), (n_items, min(k, n_items - 1)), -1 / NaN pads.
    """
    width = max(0, min(int(k), n_items - 1))
    indices = np.full((n_items, width), -1, dtype=np.int32)
    scores = np.full((n_items, width), np.nan, dtype=np.float32)
    rows = np.arange(n_items) if items is None else np.asarray(items, dtype=np.int64)
    if width == 0:
        return indices, scores
    for start in range(0, len(rows), _SCORE_BATCH):
        batch = rows[start : start + _SCORE_BATCH]
        s = np.asarray(score_rows(batch), dtype=np.float32).copy()
        s[np.arange(len(batch)), batch] = -np.inf
        s[~np.isfinite(s)] = -np.inf
        top = np.argpartition(-s, width - 1, axis=1)[:, :width]
        top_scores = np.take_along_axis(s, top, axis=1)
        # Best first, then the smaller index: the order a stable sort of the whole row gives.
        order = np.lexsort((top, -top_scores), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        ok = np.isfinite(top_scores)
        indices[batch] = np.where(ok, top, -1)
        scores[batch] = np.where(ok, top_scores, np.nan)
    return indices, scores


def neighbours_save(directory: Path, indices: np.ndarray, scores: np.ndarray) -> None:
    if indices.shape != scores.shape or indices.ndim != 2:
        raise ValueError(f"neighbour arrays disagree: {indices.shape} vs {scores.shape}")
    directory = Path(directory)
    np.save(directory / ITEMS_FILE, np.ascontiguousarray(indices, dtype=np.int32))
    np.save(directory / SCORES_FILE, np.ascontiguousarray(scores, dtype=np.float32))


def neighbours_open(directory: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The two arrays of ``directory``, memory-mapped read-only (a row read touches a
    page or two of each), or None when the version predates them."""
    directory = Path(directory)
    try:
        indices = np.load(directory / ITEMS_FILE, mmap_mode="r", allow_pickle=False)
        scores = np.load(directory / SCORES_FILE, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        return None
    if indices.shape != scores.shape or indices.ndim != 2:
        return None
    return indices, scores
