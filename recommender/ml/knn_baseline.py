"""Item-based k-NN with baseline, equivalent to Surprise's ``KNNBaseline``, built to scale.

Matches ``surprise.KNNBaseline(k=40, min_k=1, sim_options={'name': 'pearson_baseline',
'user_based': False, 'shrinkage': 100}, bsl_options={'method': 'als'})``:

* Baselines ``b_ui = mu + b_u + b_i`` by Surprise's ALS: each epoch first updates every
  ``b_i = sum_u(r_ui - mu - b_u) / (reg_i + |U_i|)``, then every
  ``b_u = sum_i(r_ui - mu - b_i) / (reg_u + |I_u|)``.
* Similarity (pearson_baseline, shrunk): with residuals ``e_ui = r_ui - b_ui`` summed over
  the users who rated both ``i`` and ``j``,
  ``sim = sum(e_ui e_uj) / sqrt(sum(e_ui^2) sum(e_uj^2)) * (n - 1) / (n - 1 + shrinkage)``,
  and 0 when ``n < max(2, min_support)``.
* Estimate: ``b_ui + sum_j sim(i, j) (r_uj - b_uj) / sum_j sim(i, j)`` over the ``k`` items
  ``j`` the user rated with the largest ``sim(i, j)``, of which only ``sim > 0`` count
  (Surprise's ``heapq.nlargest`` then ``if sim > 0``). An item the user rated itself is its
  own best neighbour (``sim(i, i) = 1``). Unknown users / items fall back to the baseline.

What differs is the cost. Surprise fills five dense ``n_items x n_items`` float64 arrays
(~2 GB at 7k titles, ~6 GB at 12k). Here one compiled pass per item accumulates the four
co-rating sums in small per-thread buffers (:mod:`recommender.ml.similarity`) and keeps
only positive similarities, because a non-positive one never contributes to an
estimate. Each item keeps its top ``neighbours_stored`` neighbours as a CSR row sorted by
similarity, best first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .base import top_n_excluding
from .neighbours import neighbours_from_sorted_rows
from .similarity import pearson_baseline_neighbours

_FORMAT_VERSION = 1
# Bound on the elements of the temporary (pairs x neighbours) arrays in predict().
_PREDICT_BUDGET = 4_000_000
# Bounds per batch of recommend() rows: the dense (rows x n_items) score buffer, and the
# (target, neighbour) links gathered for the batch (~8 arrays of 8 bytes per link). The
# links, not the dense buffer, set the peak: 540 rows of heavy users of popular titles
# made ~20M links (1.6 GB) in offline_eval's top-N fit.
_RECOMMEND_BUDGET = 4_000_000
_LINK_BUDGET = 600_000


@dataclass(frozen=True)
class TopN:
    """Result of :meth:`KNNBaseline.recommend_detailed`.

    ``indices`` (n_rows, n) int64 and ``scores`` (n_rows, n) float32 (unclipped estimates),
    best first; ``fallback`` (n_rows,) bool: True where the row had no explicit rating, so
    its ranking is the item baseline ``mu + b_i`` alone (a popularity-like order).
    """

    indices: np.ndarray
    scores: np.ndarray
    fallback: np.ndarray


class KNNBaseline:
    """Item-based k-NN on baseline residuals with the shrunk pearson_baseline similarity.

    Args:
        k: most neighbours aggregated per estimate (Surprise ``k``).
        shrinkage: pearson_baseline shrinkage (Surprise ``sim_options['shrinkage']``).
        min_support: fewest common raters for a non-zero similarity (at least 2 is used,
            as in Surprise).
        reg_i, reg_u, n_epochs: ALS baseline options (Surprise ``bsl_options``).
        neighbours_stored: similarities kept per item (its top ones); None keeps every
            positive one, which reproduces Surprise exactly.
        rating_scale: (low, high); ``predict`` clips to it and ``fit`` rejects values outside.
    """

    def __init__(
        self,
        *,
        k: int = 40,
        shrinkage: float = 100.0,
        min_support: int = 1,
        reg_i: float = 10.0,
        reg_u: float = 15.0,
        n_epochs: int = 10,
        neighbours_stored: int | None = 200,
        rating_scale: tuple[float, float] = (1.0, 10.0),
    ) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        if neighbours_stored is not None and neighbours_stored < 1:
            raise ValueError("neighbours_stored must be >= 1 or None")
        self.k = int(k)
        self.shrinkage = float(shrinkage)
        self.min_support = int(min_support)
        self.reg_i = float(reg_i)
        self.reg_u = float(reg_u)
        self.n_epochs = int(n_epochs)
        self.neighbours_stored = neighbours_stored
        self.rating_scale = (float(rating_scale[0]), float(rating_scale[1]))

    # ------------------------------------------------------------------ fit

    def fit(self, user_items: sp.csr_matrix) -> KNNBaseline:
        """Learn baselines and item neighbours.

        ``user_items``: (n_users, n_items) sparse, explicit scores inside ``rating_scale``,
        0 (or absent) = not rated. Users / items without ratings get zero bias and no
        neighbours, so they are served by the baseline, as in Surprise.
        """
        x = sp.csr_matrix(user_items, dtype=np.float64, copy=True)
        x.sum_duplicates()
        x.eliminate_zeros()
        x.sort_indices()
        lo, hi = self.rating_scale
        if x.nnz == 0:
            raise ValueError("user_items holds no rating")
        if x.data.min() < lo or x.data.max() > hi:
            raise ValueError(
                f"scores must lie in rating_scale {self.rating_scale}; "
                "drop unscored (-1) rows before fitting"
            )
        self.n_users, self.n_items = x.shape
        self.user_items_ = x
        self._fit_baselines(x)
        self._fit_neighbours(x)
        self._build_reverse_index()
        return self

    def _fit_baselines(self, x: sp.csr_matrix) -> None:
        """Surprise's baseline_als, vectorised: item pass then user pass, every epoch."""
        n_users, n_items = x.shape
        user_of = np.repeat(np.arange(n_users), np.diff(x.indptr))
        count_u = np.bincount(user_of, minlength=n_users)
        count_i = np.bincount(x.indices, minlength=n_items)
        self.global_mean_ = float(np.mean(x.data))
        mu = self.global_mean_
        bu = np.zeros(n_users)
        bi = np.zeros(n_items)
        for _ in range(self.n_epochs):
            bi = np.bincount(x.indices, weights=x.data - mu - bu[user_of], minlength=n_items) / (
                self.reg_i + count_i
            )
            bu = np.bincount(user_of, weights=x.data - mu - bi[x.indices], minlength=n_users) / (
                self.reg_u + count_u
            )
        self.bu_ = bu
        self.bi_ = bi

    def _fit_neighbours(self, x: sp.csr_matrix) -> None:
        """Positive shrunk pearson_baseline similarities, top ``neighbours_stored`` per item.

        One compiled pass accumulates the four co-rating sums of every item pair
        (:mod:`recommender.ml.similarity`); float64 sums, so similarities near the
        top-k cut-off match Surprise's.
        """
        user_of = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
        e = x.data - self.global_mean_ - self.bu_[user_of] - self.bi_[x.indices]
        self.neighbours_ = pearson_baseline_neighbours(
            x,
            e,
            shrinkage=self.shrinkage,
            min_common=max(2, self.min_support),
            keep=self.neighbours_stored,
        )

    def _build_reverse_index(self) -> None:
        """Column view of the neighbour lists, for scoring all items of one user at once.

        For neighbour j, entries ``rev_indptr_[j]:rev_indptr_[j + 1]`` of ``rev_target_``
        (int32), ``rev_rank_`` (int32) and ``rev_sim_`` (float64) list the items i that
        keep j, j's rank in i's sorted list (0 = best) and sim(i, j).
        """
        nb = self.neighbours_
        owner = np.repeat(np.arange(nb.shape[0], dtype=np.int32), np.diff(nb.indptr))
        rank = (np.arange(nb.nnz) - nb.indptr[owner]).astype(np.int32)
        # scipy's CSR -> CSC transpose is a stable counting sort by column: carrying each
        # entry's position through it yields the permutation in O(nnz).
        position = sp.csr_matrix(
            (np.arange(nb.nnz, dtype=np.int64), nb.indices, nb.indptr), shape=nb.shape
        ).tocsc()
        order = position.data
        self.rev_indptr_ = position.indptr.astype(np.int64)
        self.rev_target_ = owner[order]
        self.rev_rank_ = rank[order]
        self.rev_sim_ = nb.data[order].astype(np.float64)

    # ------------------------------------------------------------------ predict

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Clipped estimates for (user index, item index) pairs of the training index.

        ``users``, ``items``: (n_pairs,) ints. Returns (n_pairs,) float32, as Surprise's
        ``predict(...).est`` with ``clip=True``.
        """
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        est = self._estimate_pairs(users, items)
        return np.clip(est, *self.rating_scale).astype(np.float32)

    def _estimate_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Unclipped float64 estimates; pairs are processed grouped by user."""
        est = self.global_mean_ + self.bu_[users] + self.bi_[items]
        if len(users) == 0:
            return est
        x, nb = self.user_items_, self.neighbours_
        order = np.argsort(users, kind="stable")
        users_sorted = users[order]
        # Users per chunk, so their dense rating rows stay small.
        user_chunk = max(1, _PREDICT_BUDGET // max(self.n_items, 1))
        uniq = np.unique(users_sorted)
        for c in range(0, len(uniq), user_chunk):
            chunk_users = uniq[c : c + user_chunk]
            lo = np.searchsorted(users_sorted, chunk_users[0], side="left")
            hi = np.searchsorted(users_sorted, chunk_users[-1], side="right")
            dense = x[chunk_users].toarray()  # (chunk users, n_items) ratings, 0 = unrated
            local_of = np.searchsorted(chunk_users, users_sorted[lo:hi])
            pair_idx = order[lo:hi]
            lengths = np.diff(nb.indptr)[items[pair_idx]]
            # Sub-chunk pairs so (pairs x longest neighbour list) stays bounded.
            step = max(1, _PREDICT_BUDGET // max(int(lengths.max(initial=1)), 1))
            for s in range(0, len(pair_idx), step):
                p = pair_idx[s : s + step]
                est[p] += self._neighbour_term(dense, local_of[s : s + step], users[p], items[p])
        return est

    def _neighbour_term(
        self, dense: np.ndarray, local: np.ndarray, users: np.ndarray, items: np.ndarray
    ) -> np.ndarray:
        """sum sim * residual / sum sim over each pair's k best rated neighbours (or 0)."""
        nb = self.neighbours_
        start = nb.indptr[items]
        length = nb.indptr[items + 1] - start
        width = int(length.max(initial=0))
        slot = np.arange(width)
        valid = slot < length[:, None]
        entry = np.where(valid, start[:, None] + slot, 0)
        nbr = nb.indices[entry] if nb.nnz else np.zeros_like(entry)
        sim = np.where(valid, nb.data[entry] if nb.nnz else 0.0, 0.0)
        rating = dense[local[:, None], nbr]
        rated = valid & (rating != 0)
        # A pair the user rated in training is its own best neighbour (sim 1), as in
        # Surprise, leaving k - 1 slots for the others.
        own = dense[local, items]
        self_rated = own != 0
        budget = self.k - self_rated.astype(np.int64)
        rated &= np.cumsum(rated, axis=1) <= budget[:, None]
        base_u = self.global_mean_ + self.bu_[users]
        resid = np.where(rated, rating - base_u[:, None] - self.bi_[nbr], 0.0)
        w = np.where(rated, sim, 0.0)
        num = (w * resid).sum(axis=1)
        den = w.sum(axis=1)
        num += np.where(self_rated, own - base_u - self.bi_[items], 0.0)
        den += self_rated
        return np.divide(num, den, out=np.zeros_like(num), where=den > 0)

    # ------------------------------------------------------------------ neighbours

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` stored neighbours of item index ``item``, most similar first.

        Returns ``(indices, similarities)``: (<= n,) int64 and float32, the shrunk
        pearson_baseline similarities (all positive); empty for an item without ratings.
        """
        if not 0 <= item < self.n_items:
            raise IndexError(f"item index {item} outside 0..{self.n_items - 1}")
        nb = self.neighbours_
        start, end = nb.indptr[item], nb.indptr[item + 1]
        # Rows are stored sorted by similarity, best first.
        end = min(end, start + max(int(n), 0))
        return nb.indices[start:end].astype(np.int64), nb.data[start:end].astype(np.float32)

    def neighbours(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Every item's best ``k`` stored neighbours at once, for
        :mod:`recommender.ml.neighbours`: (n_items, width) int32 indices and float32
        similarities, best first, padded with -1 / NaN; the rows of :meth:`similar_items`."""
        return neighbours_from_sorted_rows(self.neighbours_, k)

    # ------------------------------------------------------------------ recommend

    def recommend(
        self, user_items: sp.csr_matrix, n: int = 10, users: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items per row; see :meth:`recommend_detailed`."""
        top = self.recommend_detailed(user_items, n, users=users)
        return top.indices, top.scores

    def recommend_detailed(
        self, user_items: sp.csr_matrix, n: int = 10, users: np.ndarray | None = None
    ) -> TopN:
        """Rank every item not in the row by its unclipped estimate, best first.

        ``user_items``: (n_rows, n_items) CSR, a user's current list: entries inside
        ``rating_scale`` are explicit scores; every non-zero entry (e.g. -1 = completed,
        unscored) counts as seen and is never returned. Rows need not be training users:
        the user bias is folded in from the row with the ALS formula
        ``b_u = sum(r - mu - b_i) / (reg_u + n_rated)``, so a new sign-up is served without
        refitting. ``users`` (n_rows,) optionally names training-user indices (-1 = new)
        whose fitted ``b_u`` to use instead. One vectorised pass per batch of rows.
        """
        rows = sp.csr_matrix(user_items, dtype=np.float64)
        if rows.shape[1] != self.n_items:
            raise ValueError(f"expected {self.n_items} item columns, got {rows.shape[1]}")
        rows.eliminate_zeros()
        n_rows = rows.shape[0]
        n = min(n, self.n_items)
        if users is not None:
            users = np.asarray(users, dtype=np.int64)
        indices = np.empty((n_rows, n), dtype=np.int64)
        scores = np.empty((n_rows, n), dtype=np.float32)
        fallback = np.empty(n_rows, dtype=bool)
        for s, e in self._row_batches(rows):
            batch = rows[s:e]
            known = None if users is None else users[s:e]
            est, fb = self._score_rows(batch, known)
            # Unscored (-1) entries are seen too: pass the structure, not the values.
            seen = sp.csr_matrix(
                (np.ones(batch.nnz, dtype=np.float32), batch.indices, batch.indptr),
                shape=batch.shape,
            )
            idx, sc = top_n_excluding(est, seen, n)
            indices[s:e], scores[s:e], fallback[s:e] = idx, sc, fb
        return TopN(indices=indices, scores=scores, fallback=fallback)

    def _row_batches(self, rows: sp.csr_matrix) -> list[tuple[int, int]]:
        """Consecutive (start, stop) row ranges within both recommend() budgets.

        A row costs one link per stored neighbour list its rated items appear in, so heavy
        users of popular titles cost far more than their list length suggests.
        """
        lo, hi = self.rating_scale
        rated = np.where((rows.data >= lo) & (rows.data <= hi), rows.indices, -1)
        per_entry = np.where(rated >= 0, np.diff(self.rev_indptr_)[np.maximum(rated, 0)], 0).astype(
            np.int64
        )
        links = np.add.reduceat(np.r_[per_entry, 0], rows.indptr[:-1]) * (np.diff(rows.indptr) > 0)
        max_rows = max(1, _RECOMMEND_BUDGET // max(self.n_items, 1))
        batches, start, spent = [], 0, 0
        for r, cost in enumerate(links.tolist()):
            if r > start and (spent + cost > _LINK_BUDGET or r - start >= max_rows):
                batches.append((start, r))
                start, spent = r, 0
            spent += cost
        if start < rows.shape[0]:
            batches.append((start, rows.shape[0]))
        return batches

    def _score_rows(
        self, rows: sp.csr_matrix, known_users: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dense (n_rows, n_items) float64 unclipped estimates and the fallback flags."""
        lo, hi = self.rating_scale
        n_rows = rows.shape[0]
        explicit = (rows.data >= lo) & (rows.data <= hi)
        row_of = np.repeat(np.arange(n_rows), np.diff(rows.indptr))[explicit]
        item = rows.indices[explicit].astype(np.int64)
        score = rows.data[explicit]
        mu = self.global_mean_
        n_rated = np.bincount(row_of, minlength=n_rows)
        bu = np.bincount(row_of, weights=score - mu - self.bi_[item], minlength=n_rows) / (
            self.reg_u + n_rated
        )
        if known_users is not None:
            bu = np.where(known_users >= 0, self.bu_[np.maximum(known_users, 0)], bu)
        est = mu + bu[:, None] + self.bi_[None, :]
        fallback = n_rated == 0
        if len(item) == 0:
            return est, fallback
        resid = score - mu - bu[row_of] - self.bi_[item]
        # Every stored (target i, neighbour j) link where j is one of the row's items.
        start = self.rev_indptr_[item]
        length = self.rev_indptr_[item + 1] - start
        total = int(length.sum())
        if total == 0:
            return est, fallback
        link = np.arange(total) + np.repeat(start - (np.cumsum(length) - length), length)
        target = self.rev_target_[link]
        cell = np.repeat(row_of * self.n_items, length) + target
        weight = self.rev_sim_[link]
        size = n_rows * self.n_items
        # Per (row, target) only the k best links count. Most cells have fewer than k
        # links; rank only the links of the crowded ones, by their position in the
        # target's sorted neighbour list.
        crowded = np.flatnonzero(np.bincount(cell, minlength=size)[cell] > self.k)
        if len(crowded):
            key = cell[crowded] * self.n_items + self.rev_rank_[link[crowded]]
            order = np.argsort(key)
            sorted_cells = cell[crowded][order]
            first = np.r_[True, sorted_cells[1:] != sorted_cells[:-1]]
            seq = np.arange(len(order))
            group_start = np.maximum.accumulate(np.where(first, seq, 0))
            weight[crowded[order[(seq - group_start) >= self.k]]] = 0.0
        num = np.bincount(cell, weights=weight * np.repeat(resid, length), minlength=size)
        den = np.bincount(cell, weights=weight, minlength=size)
        term = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        est += term.reshape(n_rows, self.n_items)
        return est, fallback

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> None:
        """Write every fitted array with ``np.savez`` (no pickle)."""
        nb, x = self.neighbours_, self.user_items_
        np.savez(
            path,
            format_version=np.int64(_FORMAT_VERSION),
            params=np.array(
                [
                    self.k,
                    self.shrinkage,
                    self.min_support,
                    self.reg_i,
                    self.reg_u,
                    self.n_epochs,
                    -1 if self.neighbours_stored is None else self.neighbours_stored,
                    *self.rating_scale,
                ],
                dtype=np.float64,
            ),
            global_mean=np.float64(self.global_mean_),
            bu=self.bu_,
            bi=self.bi_,
            nb_indptr=nb.indptr,
            nb_indices=nb.indices,
            nb_data=nb.data,
            ui_indptr=x.indptr,
            ui_indices=x.indices,
            ui_data=x.data,
            shape=np.array(x.shape, dtype=np.int64),
        )

    @classmethod
    def load(cls, path: str | Path) -> KNNBaseline:
        """Read a file written by :meth:`save`; ``allow_pickle=False``."""
        with np.load(path, allow_pickle=False) as f:
            if int(f["format_version"]) != _FORMAT_VERSION:
                raise ValueError(f"unsupported format version {int(f['format_version'])}")
            p = f["params"]
            model = cls(
                k=int(p[0]),
                shrinkage=p[1],
                min_support=int(p[2]),
                reg_i=p[3],
                reg_u=p[4],
                n_epochs=int(p[5]),
                neighbours_stored=None if p[6] < 0 else int(p[6]),
                rating_scale=(p[7], p[8]),
            )
            n_users, n_items = (int(v) for v in f["shape"])
            model.n_users, model.n_items = n_users, n_items
            model.global_mean_ = float(f["global_mean"])
            model.bu_, model.bi_ = f["bu"], f["bi"]
            model.neighbours_ = sp.csr_matrix(
                (f["nb_data"], f["nb_indices"], f["nb_indptr"]), shape=(n_items, n_items)
            )
            model.user_items_ = sp.csr_matrix(
                (f["ui_data"], f["ui_indices"], f["ui_indptr"]), shape=(n_users, n_items)
            )
        model._build_reverse_index()
        return model
