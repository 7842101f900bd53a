"""Which titles a user should label next.

* :func:`cold_start_order`: before a user has a model, popular titles spread across genres
  and years, so the first answers cover the taste space instead of ten shounen hits.
* :func:`select_queue`: with a model, the titles whose answers would most reduce the
  model's uncertainty about the titles it ranks (``"variance"``, the product's queue, see
  :func:`variance_order`), plain uncertainty sampling (P(like) closest to 0.5), and a
  small share of random exploration (so a wrong, confident model still gets corrected).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .taste import CatalogFeatures

STRATEGIES = ("uncertainty", "variance", "density", "random")
REASONS = ("cold_start", "uncertainty", "exploration", "random")

# How many of the most popular titles the diversified cold-start head is drawn from.
_COLD_START_POOL = 400
# "variance": the candidates (and the titles whose uncertainty counts) are at most this
# many, the most uncertain ones first (the greedy pass costs pool^2 per pick).
VARIANCE_POOL = 1500
# Prior variance of the linear model's weights in the variance computation (the product's
# model has C = 1; 0.5 asked slightly better questions on 10 x 40 bench users).
_VARIANCE_PRIOR = 0.5


def _genre_sets(catalog: pd.DataFrame) -> list[frozenset[str]]:
    if "genres" not in catalog.columns:
        return [frozenset()] * len(catalog)
    return [
        frozenset(g.strip().casefold() for g in str(v).split(",") if g.strip())
        if isinstance(v, str)
        else frozenset()
        for v in catalog["genres"]
    ]


def _decades(catalog: pd.DataFrame) -> np.ndarray:
    if "premiered" not in catalog.columns:
        return np.full(len(catalog), -1)
    years = (
        catalog["premiered"]
        .fillna("")
        .astype(str)
        .map(lambda s: int(m.group(1)) if (m := re.search(r"(\d{4})", s)) else -1)
    )
    return np.where(years.to_numpy() > 0, years.to_numpy() // 5, -1)  # 5-year buckets


def cold_start_order(catalog: pd.DataFrame, *, random_state: int = 0) -> np.ndarray:
    """Row positions (into ``catalog``) in the order a new user should see them.

    The head is a greedy pick from the most popular titles: each next title maximises
    popularity times novelty, where novelty falls with how often its genres and its
    5-year period were already shown. After the head come the remaining titles by
    popularity. Ties are broken by a seeded shuffle. Returns an int64 permutation.
    """
    n = len(catalog)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(random_state)
    members = (
        pd.to_numeric(catalog.get("members"), errors="coerce") if "members" in catalog else None
    )
    if members is None or members.isna().all():
        popularity = pd.to_numeric(catalog.get("popularity"), errors="coerce")
        weight = -popularity.fillna(popularity.max() + 1 if popularity.notna().any() else 0)
    else:
        weight = np.log1p(members.fillna(0))
    weight = np.asarray(weight, dtype=np.float64) + rng.random(n) * 1e-6
    by_popularity = np.argsort(-weight, kind="stable")

    pool = by_popularity[: min(_COLD_START_POOL, n)]
    all_genres = _genre_sets(catalog)
    genres = [all_genres[r] for r in pool]
    vocab = sorted(set().union(*genres))
    col = {g: i for i, g in enumerate(vocab)}
    # Pool x genre incidence, each row averaging over its genres.
    incidence = np.zeros((len(pool), max(len(vocab), 1)))
    for j, gs in enumerate(genres):
        for g in gs:
            incidence[j, col[g]] = 1.0 / len(gs)
    has_genres = np.array([bool(gs) for gs in genres])
    decades = _decades(catalog)[pool]
    known_decade = decades >= 0
    _, decade_index = np.unique(decades, return_inverse=True)
    w = weight[pool]
    w = (w - w.min()) / (w.max() - w.min()) if w.max() > w.min() else np.ones(len(pool))
    genre_seen = np.zeros(incidence.shape[1])
    decade_seen = np.zeros(decade_index.max() + 1)
    chosen: list[int] = []
    available = np.ones(len(pool), dtype=bool)
    for _ in range(len(pool)):
        # Geometric mean over a title's genres: one over-shown genre pulls it down even
        # when its other genres are fresh.
        g = np.where(has_genres, np.exp(-incidence @ np.log1p(genre_seen)), 0.5)
        d = np.where(known_decade, 1.0 / (1.0 + decade_seen[decade_index]), 0.5)
        score = np.where(available, (0.3 + 0.7 * w) * g * (0.5 + 0.5 * d), -np.inf)
        j = int(np.argmax(score))
        available[j] = False
        chosen.append(int(pool[j]))
        genre_seen += incidence[j] > 0
        if known_decade[j]:
            decade_seen[decade_index[j]] += 1
    head = np.array(chosen, dtype=np.int64)
    rest = by_popularity[min(_COLD_START_POOL, n) :]
    return np.concatenate([head, rest]).astype(np.int64)


def exploration_count(n: int, exploration: float) -> int:
    """How many of a page of ``n`` are random exploration: the share rounded down, but at
    least one when the share is above 0 and the page has 3 or more titles."""
    n_explore = int(exploration * n)
    if exploration > 0 and n_explore == 0 and n >= 3:
        n_explore = 1
    return n_explore


def queue_orders(
    proba: np.ndarray, eligible: np.ndarray, asked: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The product queue's two orders over the eligible rows of ``proba``.

    ``asked`` holds rows in the order a training run stored (see :func:`variance_order`);
    the first order is its still eligible rows, then every other eligible row by P(like)
    closest to 0.5. The second is a seeded random order of the eligible rows (the
    exploration share). A page takes titles from the front of each.
    """
    eligible = np.asarray(eligible, dtype=bool) & np.isfinite(proba)
    asked = np.asarray(asked, dtype=np.int64)
    asked = asked[eligible[asked]]
    rest = np.flatnonzero(eligible)
    rest = rest[~np.isin(rest, asked)]
    rest = rest[np.argsort(np.abs(proba[rest] - 0.5), kind="stable")]
    return np.concatenate([asked, rest]), rng.permutation(np.flatnonzero(eligible))


def select_queue(
    proba: np.ndarray,
    eligible: np.ndarray,
    *,
    n: int,
    strategy: str = "uncertainty",
    exploration: float = 0.1,
    features: CatalogFeatures | None = None,
    rng: np.random.Generator | None = None,
    rows: np.ndarray | None = None,
    labeled: np.ndarray | None = None,
) -> list[tuple[int, str]]:
    """The next ``n`` rows to ask about, as ``[(row, reason)]``.

    ``proba`` (n_titles,) is P(like) for every catalog row; ``eligible`` (n_titles,) bool
    marks rows that may be asked (not labeled, listed, hidden...). Strategies:

    * ``"uncertainty"``: closest to 0.5 first;
    * ``"density"``: uncertainty weighted by how typical the title is
      (``features.density``), so the queue avoids uncertain outliers;
    * ``"variance"``: greedy batch that most reduces the posterior variance of the
      candidates' log-odds under a logistic model on ``features`` given the ``labeled``
      rows (bool mask over ``proba``), see :func:`variance_order`;
    * ``"random"``: uniform among eligible rows.

    ``exploration`` is the share of the page (rounded down, at least one when > 0 and
    n >= 3) filled with random eligible rows, reason ``"exploration"``.
    Never returns an ineligible row or a row twice; returns fewer than ``n`` when fewer
    rows are eligible. ``rows`` (optional): the catalog row of each entry of ``proba``
    when it covers only part of the catalog (for ``density``); returned positions index
    ``proba``.
    """
    proba = np.asarray(proba, dtype=np.float64).ravel()
    eligible = np.asarray(eligible, dtype=bool).ravel()
    if proba.shape != eligible.shape:
        raise ValueError(f"proba has {proba.shape[0]} rows but eligible has {eligible.shape[0]}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {STRATEGIES}")
    if not 0.0 <= exploration <= 1.0:
        raise ValueError("exploration must be between 0 and 1")
    rng = rng if rng is not None else np.random.default_rng()
    candidates = np.flatnonzero(eligible & np.isfinite(proba))
    n = min(int(n), len(candidates))
    if n <= 0:
        return []
    if strategy == "random":
        return [(int(r), "random") for r in rng.choice(candidates, size=n, replace=False)]

    n_explore = exploration_count(n, exploration)
    n_exploit = n - n_explore
    # Score: higher = ask sooner.
    score = 0.5 - np.abs(proba[candidates] - 0.5)
    if strategy == "density":
        if features is None or features.density is None:
            raise ValueError("the density strategy needs features with a density vector")
        density = features.density if rows is None else features.density[rows]
        score = score * (0.25 + density[candidates])
    if strategy == "variance":
        if features is None or labeled is None:
            raise ValueError("the variance strategy needs features and the labeled mask")
        X = features.matrix if rows is None else features.matrix[rows]
        lab = np.flatnonzero(np.asarray(labeled, dtype=bool).ravel())
        top = variance_order(X, proba, lab, candidates, n_exploit)
    elif n_exploit < len(candidates):
        top = np.argpartition(-score, n_exploit - 1)[:n_exploit] if n_exploit else np.empty(0, int)
        top = top[np.argsort(-score[top], kind="stable")]
    else:
        top = np.argsort(-score, kind="stable")
    picked = [(int(candidates[i]), "uncertainty") for i in top]
    if n_explore:
        rest = np.setdiff1d(candidates, candidates[top], assume_unique=True)
        extra = rng.choice(rest, size=min(n_explore, len(rest)), replace=False)
        picked += [(int(r), "exploration") for r in extra]
    return picked


def variance_order(
    X: sp.spmatrix,
    proba: np.ndarray,
    labeled: np.ndarray,
    candidates: np.ndarray,
    n: int,
    *,
    pool: int = VARIANCE_POOL,
) -> np.ndarray:
    """Positions into ``candidates`` of a greedy batch of ``n`` that teaches the most.

    Laplace (Gaussian-process) view of the taste model's linear part: the log-odds have
    prior covariance ``c X X^T``, and an answer at x observes its log-odds with noise
    variance ``1 / (p(1-p))``. Given the ``labeled`` rows, answering title c lowers the
    variance of title t by ``S_tc^2 / (S_cc + 1/w_c)`` (``S`` the posterior covariance,
    ``w = p(1-p)``). A title scores the sum of that over the candidates, each weighted by
    its P(like): average precision is lost when a disliked title is ranked among the
    likes, so doubt about titles the model puts high costs most. After each pick ``S`` is
    updated as if it were answered, so a batch does not ask ten near-copies.

    Why not P(like) closest to 0.5: on this data that asks about near-boundary titles the
    answers of which teach little about the rest; this asks about the titles many others
    depend on (on 10 x 40 simulated users it gained about 0.006 AP at 40 labels).
    """
    X = sp.csr_matrix(X)
    candidates = np.asarray(candidates, dtype=np.int64)
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-3, 1 - 1e-3)
    w_all = p * (1.0 - p)
    keep = np.arange(len(candidates))
    if len(keep) > pool:
        keep = np.sort(np.argsort(-w_all[candidates], kind="stable")[:pool])
    cand = candidates[keep]
    labeled = np.asarray(labeled, dtype=np.int64)
    G = _gram(X, np.concatenate([cand, labeled]))
    m = len(cand)
    S = G[:m, :m]
    if len(labeled):
        A = G[m:, m:] + np.diag(1.0 / w_all[labeled])
        Kcl = G[:m, m:]
        S = S - Kcl @ np.linalg.solve(A, Kcl.T)
    S = S.astype(np.float32)  # the greedy pass reads S once per pick: halve the bytes
    noise = 1.0 / w_all[cand]
    target = p[cand]
    diag = np.diag(S).astype(np.float64)
    # S after the picks is S - P P^T (P: one column per pick), never formed: a pick costs
    # one S @ v instead of rewriting S.
    P = np.zeros((len(cand), min(n, len(cand))), dtype=np.float64)
    numerator = (S * S).astype(np.float64) @ target  # sum_t target_t S_tc^2
    available = np.ones(len(cand), dtype=bool)
    chosen: list[int] = []
    for k in range(P.shape[1]):
        gain = np.where(available, numerator / (diag + noise), -np.inf)
        j = int(np.argmax(gain))
        available[j] = False
        chosen.append(j)
        s = S[:, j].astype(np.float64) - P[:, :k] @ P[j, :k]
        d = diag[j] + noise[j]
        ts = target * s
        u = (S @ ts.astype(np.float32)).astype(np.float64) - P[:, :k] @ (P[:, :k].T @ ts)
        numerator += -2.0 * s * u / d + s * s * float(ts @ s) / (d * d)
        diag -= s * s / d
        P[:, k] = s / np.sqrt(d)
    return keep[np.array(chosen, dtype=np.int64)]


def _gram(X: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """``_VARIANCE_PRIOR * X[rows] @ X[rows].T`` as a dense float64 array. Columns set for
    most titles (priors, numbers, factors) are multiplied densely: left in the sparse
    product they would make every pair a stored entry, which is several times slower."""
    counts = np.bincount(X.indices, minlength=X.shape[1])
    dense = counts > X.shape[0] // 2
    sub = X[rows].tocsc()
    Xd = sub[:, np.flatnonzero(dense)].toarray().astype(np.float64)
    Xs = sub[:, np.flatnonzero(~dense)].tocsr().astype(np.float64)
    return _VARIANCE_PRIOR * ((Xs @ Xs.T).toarray() + Xd @ Xd.T)
