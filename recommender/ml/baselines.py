"""Reference models every engine is measured against.

All implement :class:`recommender.ml.base.Recommender`. ``recommend`` also takes an
optional ``users`` array (training-row index of each row, -1 for a user unknown at fit
time): models that keep per-user state (ALS factors, Surprise's user biases and
neighbourhoods) use it for known users; without it every row is treated as a new user.
Models that score from the row alone (popularity, EASE) ignore it.

* :class:`Popularity`: number of users who completed the title.
* :class:`EASE`: Steck 2019, closed-form item-item ridge with a zero diagonal.
* :class:`ALS`: ``implicit``'s CPU AlternatingLeastSquares, library defaults, 64 factors.
* :class:`SurpriseSVD`, :class:`SurpriseKNNBaseline`, :class:`SurpriseBaselineOnly`:
  rating predictors from Surprise; top-N loops ``predict`` over candidate titles (slow,
  ~0.2 s a user on the full catalog).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import top_n_excluding

ROW_BATCH = 1024  # rows scored at once: bounds the dense (rows, n_items) score block
# Titles a model leaves out rank after every modelled title, before seen ones (-inf).
UNMODELLED_SCORE = np.float32(-1e30)


def _batches(n_rows: int, size: int = ROW_BATCH) -> Iterator[slice]:
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def _batched_top_n(
    score_rows: Callable[[slice], np.ndarray], seen: sp.csr_matrix, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``top_n_excluding`` over row blocks of ``seen`` with dense scores per block."""
    parts = [
        top_n_excluding(score_rows(block), seen[block], n) for block in _batches(seen.shape[0])
    ]
    if not parts:
        return np.zeros((0, n), np.int64), np.zeros((0, n), np.float32)
    return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])


# OpenBLAS 0.3.30 and 0.3.31 (the scipy and numpy wheels) die with SIGSEGV in a threaded
# potrf from about 16k rows (on this project's 2-core SkylakeX machines: 15,000 rows fine,
# 16,384 crashed, 17,014 fine on one thread). MAL's catalog is 17k titles, so EASE's
# factorisation runs on one thread past this size: about twice as slow, never a crash.
_THREADED_LAPACK_MAX = 15_000


@functools.cache
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once: a fresh
    ``threadpool_limits`` rescans every shared library (~5 ms per served request)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _binary(user_items: sp.csr_matrix) -> sp.csr_matrix:
    x = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
    x.data[:] = 1.0
    return x


def _known_users(users: np.ndarray | None, n_rows: int) -> np.ndarray:
    """``users`` as int64 (n_rows,), -1 where unknown; all -1 when ``users`` is None."""
    if users is None:
        return np.full(n_rows, -1, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64)
    if users.shape != (n_rows,):
        raise ValueError(f"users must have shape ({n_rows},), got {users.shape}")
    return users


class Popularity:
    """Ranks titles by how many training users completed them; the same list for all."""

    def __init__(self) -> None:
        self.counts = np.zeros(0, dtype=np.float32)

    def fit(self, user_items: sp.csr_matrix) -> Popularity:
        """``user_items``: (n_users, n_items) CSR, any non-zero counts as completed."""
        self.counts = np.diff(sp.csc_matrix(user_items).indptr).astype(np.float32)
        return self

    def recommend(
        self, user_items: sp.csr_matrix, n: int = 10, users: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        seen = sp.csr_matrix(user_items)
        return _batched_top_n(
            lambda b: np.broadcast_to(self.counts, (b.stop - b.start, len(self.counts))), seen, n
        )


class EASE:
    """Embarrassingly Shallow Autoencoder: B = argmin ||X - XB||^2 + lam ||B||^2, diag(B)=0.

    Closed form B = I - P diagDiag(1/diag(P)) with P = (X^T X + lam I)^-1. The Gram matrix
    is built in column blocks and inverted in place (Cholesky), so the peak is about one
    dense (m, m) matrix in ``dtype`` plus B in float32, m the modelled titles.

    At MAL scale the design is the limit: 17k titles make one float64 matrix 2.3 GB.
    The scalable variant is ``max_items`` (model only the most-completed titles; the rest
    are ranked after every modelled title, before seen ones) and ``dtype='float32'``:
    ``EASE(max_items=10_000, dtype='float32')`` peaks near 0.8 GB. The defaults model
    every title in float64, the original algorithm.
    """

    def __init__(
        self,
        lam: float = 200.0,
        max_items: int | None = None,
        dtype: str = "float64",
        block_size: int = 2048,
    ) -> None:
        if dtype not in ("float32", "float64"):
            raise ValueError("dtype must be 'float32' or 'float64'")
        self.lam = lam
        self.max_items = max_items
        self.dtype = dtype
        self.block_size = block_size  # columns per step; only speed and peak memory
        self.n_items = 0
        self.modelled = np.zeros(0, dtype=np.int64)  # catalog column of each row of B
        self.B = np.zeros((0, 0), dtype=np.float32)

    def fit(self, user_items: sp.csr_matrix) -> EASE:
        """``user_items``: (n_users, n_items) CSR, binarised here."""
        from scipy.linalg import lapack

        x = _binary(user_items)
        self.n_items = x.shape[1]
        counts = np.diff(x.tocsc().indptr)
        modelled = np.arange(self.n_items)
        if self.max_items is not None and self.n_items > self.max_items:
            modelled = np.sort(np.argsort(-counts, kind="stable")[: self.max_items])
        x = sp.csc_matrix(x[:, modelled])
        m = len(modelled)
        # Gram in column blocks: one sparse X^T X of a big catalog is a dense matrix held
        # as sparse triplets (12 bytes an entry), 3x the dense array it becomes.
        gram = np.empty((m, m), dtype=self.dtype, order="F")
        xt = sp.csr_matrix(x.T)
        for block in _batches(m, self.block_size):
            gram[:, block] = (xt @ x[:, block]).toarray()
        gram[np.diag_indices(m)] += self.lam
        potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (gram,))
        threads = (
            _blas_controller().limit(limits=1, user_api="blas")
            if m > _THREADED_LAPACK_MAX
            else contextlib.nullcontext()
        )
        with threads:
            c, info = potrf(gram, lower=False, overwrite_a=True, clean=False)
            if info != 0:
                raise np.linalg.LinAlgError(f"Gram matrix not positive definite (potrf {info})")
            p, info = potri(c, lower=False, overwrite_c=True)
            if info != 0:
                raise np.linalg.LinAlgError(f"Gram inverse failed (potri {info})")
        del gram, c
        for block in _batches(m, self.block_size):  # potri fills the upper triangle only
            diag_block = p[block, block]
            p[block, block] = np.triu(diag_block) + np.triu(diag_block, 1).T
            p[block.stop :, block] = p[block, block.stop :].T
        diag = np.diag(p).copy()
        b = np.empty((m, m), dtype=np.float32)
        for block in _batches(m, self.block_size):
            b[:, block] = p[:, block] / -diag[block]
        del p
        np.fill_diagonal(b, 0.0)
        self.modelled = modelled.astype(np.int64)
        self.B = b
        return self

    def _scores(self, x: sp.csr_matrix, rows: slice) -> np.ndarray:
        part = np.asarray(x[rows][:, self.modelled] @ self.B)
        if len(self.modelled) == self.n_items:
            return part
        out = np.full((part.shape[0], self.n_items), UNMODELLED_SCORE, dtype=np.float32)
        out[:, self.modelled] = part
        return out

    def recommend(
        self, user_items: sp.csr_matrix, n: int = 10, users: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        x = _binary(user_items)
        return _batched_top_n(lambda b: self._scores(x, b), x, n)

    def save(self, path: str | Path) -> None:
        np.savez(
            path,
            B=self.B,
            lam=np.float64(self.lam),
            modelled=self.modelled,
            n_items=np.int64(self.n_items),
        )

    @classmethod
    def load(cls, path: str | Path) -> EASE:
        with np.load(path, allow_pickle=False) as f:
            model = cls(lam=float(f["lam"]))
            model.B = f["B"]
            model.modelled = f["modelled"]
            model.n_items = int(f["n_items"])
        return model


class ALS:
    """``implicit.cpu.als.AlternatingLeastSquares`` with the library's defaults.

    Training users keep their learnt factors; other rows are folded in with
    ``recalculate_user`` (one least-squares solve against the fixed item factors).
    """

    def __init__(
        self,
        factors: int = 64,
        iterations: int = 15,
        regularization: float = 0.01,
        alpha: float = 1.0,
        random_state: int = 0,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.random_state = random_state
        self.num_threads = num_threads
        self.model = None

    def fit(self, user_items: sp.csr_matrix) -> ALS:
        """``user_items``: (n_users, n_items) CSR confidences (1 for watched)."""
        # implicit warns (and slows down) when BLAS runs its own threads next to its own.
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            self.model = AlternatingLeastSquares(
                factors=self.factors,
                iterations=self.iterations,
                regularization=self.regularization,
                alpha=self.alpha,
                random_state=self.random_state,
                num_threads=self.num_threads,
            )
            self.model.fit(_binary(user_items), show_progress=False)
        return self

    def user_factors(
        self, user_items: sp.csr_matrix, users: np.ndarray | None = None
    ) -> np.ndarray:
        """(n_rows, factors) float32: stored factors for known users, refitted otherwise."""
        if self.model is None:
            raise RuntimeError("ALS is not fitted")
        x = _binary(user_items)
        users = _known_users(users, x.shape[0])
        out = np.empty((x.shape[0], self.model.factors), dtype=np.float32)
        known = users >= 0
        out[known] = self.model.user_factors[users[known]]
        new = np.flatnonzero(~known)
        if len(new):
            with _blas_controller().limit(limits=1, user_api="blas"):
                out[new] = self.model.recalculate_user(new, x[new])
        return out

    def recommend(
        self, user_items: sp.csr_matrix, n: int = 10, users: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        seen = sp.csr_matrix(user_items)
        factors = self.user_factors(seen, users)
        items = self.model.item_factors
        return _batched_top_n(lambda b: factors[b] @ items.T, seen, n)


class _SurpriseModel:
    """Wraps a Surprise algorithm; raw Surprise ids are our dense user / item indices."""

    rating_scale = (1, 10)

    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state
        self.algo = None
        self.n_items = 0

    def _make_algo(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def fit(self, user_items: sp.csr_matrix) -> _SurpriseModel:
        """``user_items``: (n_users, n_items) CSR of explicit scores 1-10 (no -1 entries)."""
        from surprise import Dataset, Reader

        coo = sp.coo_matrix(user_items)
        if coo.nnz and coo.data.min() < self.rating_scale[0]:
            raise ValueError("explicit models take scores 1-10; drop the -1 rows first")
        self.n_items = coo.shape[1]
        df = pd.DataFrame(
            {
                "u": coo.row.astype(np.int64),
                "i": coo.col.astype(np.int64),
                "r": coo.data.astype(np.float64),
            }
        )
        trainset = Dataset.load_from_df(
            df, Reader(rating_scale=self.rating_scale)
        ).build_full_trainset()
        self.algo = self._make_algo()
        self.algo.fit(trainset)
        return self

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Estimated scores (len(users),) float32 via Surprise's ``predict`` (clipped 1-10).

        Unknown users/items get Surprise's fallback (baseline or global mean).
        """
        if self.algo is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        predict = self.algo.predict
        return np.fromiter(
            (predict(int(u), int(i)).est for u, i in zip(users, items, strict=True)),
            dtype=np.float32,
            count=len(users),
        )

    def recommend(
        self, user_items: sp.csr_matrix, n: int = 10, users: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predict every unseen title for each row and keep the best ``n``.

        Rows with ``users`` = -1 (or ``users`` None) are users Surprise cannot know; they
        get its fallback estimate (baseline ``mu + b_i``), i.e. a bias-ranked list.
        """
        seen = sp.csr_matrix(user_items)
        users = _known_users(users, seen.shape[0])
        all_items = np.arange(seen.shape[1])
        scores = np.full(seen.shape, -np.inf, dtype=np.float32)
        for row in range(seen.shape[0]):
            watched = seen.indices[seen.indptr[row] : seen.indptr[row + 1]]
            candidates = np.setdiff1d(all_items, watched, assume_unique=True)
            # Surprise treats any id not in the trainset as unknown: use an impossible one.
            uid = users[row] if users[row] >= 0 else -1
            scores[row, candidates] = self.predict(np.full(len(candidates), uid), candidates)
        return top_n_excluding(scores, seen, n)


class SurpriseSVD(_SurpriseModel):
    """Surprise's biased matrix factorisation (``SVD``, library defaults)."""

    def _make_algo(self):
        from surprise import SVD

        return SVD(random_state=self.random_state)


class SurpriseKNNBaseline(_SurpriseModel):
    """Surprise's ``KNNBaseline``: item-item, pearson_baseline similarity, k=40.

    Item-based with pearson_baseline is the configuration Surprise recommends for this
    algorithm; its similarity build is what makes the ~2 GB peak on 7k titles.
    """

    def __init__(self, k: int = 40, user_based: bool = False, random_state: int = 0) -> None:
        super().__init__(random_state)
        self.k = k
        self.user_based = user_based

    def _make_algo(self):
        from surprise import KNNBaseline

        return KNNBaseline(
            k=self.k,
            sim_options={"name": "pearson_baseline", "user_based": self.user_based},
            verbose=False,
        )


class SurpriseBaselineOnly(_SurpriseModel):
    """``mu + b_u + b_i`` fitted by ALS; the floor any rating model must clear."""

    def _make_algo(self):
        from surprise import BaselineOnly

        return BaselineOnly(verbose=False)
