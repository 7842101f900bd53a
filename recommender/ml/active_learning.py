"""Which titles a user should label next.

* :func:`cold_start_order`: before a user has a model, popular titles spread across genres
  and years, so the first answers cover the taste space instead of ten shounen hits.
* :func:`select_queue`: with a model, uncertainty sampling on P(like) with a small share
  of random exploration (so a wrong, confident model still gets corrected). The
  experimental ``"information"`` strategy picks the batch by expected information gain
  about a linear taste model instead (not what the product's queue uses yet).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .taste import CatalogFeatures

STRATEGIES = ("uncertainty", "density", "information", "random")
REASONS = ("cold_start", "uncertainty", "exploration", "random")

# How many of the most popular titles the diversified cold-start head is drawn from.
_COLD_START_POOL = 400
# "information": the exact gain is computed for this many titles with the highest bound.
_INFO_POOL = 400


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
    * ``"information"``: greedy batch of largest expected information gain about a
      logistic model on ``features`` given the ``labeled`` rows (bool mask over
      ``proba``), see :func:`information_order`;
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

    n_explore = int(exploration * n)
    if exploration > 0 and n_explore == 0 and n >= 3:
        n_explore = 1
    n_exploit = n - n_explore
    # Score: higher = ask sooner.
    score = 0.5 - np.abs(proba[candidates] - 0.5)
    if strategy == "density":
        if features is None or features.density is None:
            raise ValueError("the density strategy needs features with a density vector")
        density = features.density if rows is None else features.density[rows]
        score = score * (0.25 + density[candidates])
    if strategy == "information":
        if features is None or labeled is None:
            raise ValueError("the information strategy needs features and the labeled mask")
        X = features.matrix if rows is None else features.matrix[rows]
        lab = np.flatnonzero(np.asarray(labeled, dtype=bool).ravel())
        top = information_order(X, proba, lab, candidates, n_exploit)
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


def information_order(
    X: sp.spmatrix, proba: np.ndarray, labeled: np.ndarray, candidates: np.ndarray, n: int
) -> np.ndarray:
    """Positions into ``candidates`` of a greedy batch of ``n`` by expected information gain.

    Laplace view of an L2 logistic model (prior N(0, I)) on the rows of ``X``: a label at
    x adds ``p(1-p) x x^T`` to the posterior precision, and teaches about
    ``log(1 + p(1-p) v(x))`` where ``v(x)`` is the posterior variance of x's logit given
    the ``labeled`` rows (weighted by their own ``p(1-p)``). After each pick the variances
    are updated as if it were labeled, so the batch does not ask about ten near-duplicates.
    The exact gain is computed for the ``_INFO_POOL`` candidates with the largest bound
    ``p(1-p) |x|^2``.
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    p = np.clip(proba, 1e-3, 1 - 1e-3)
    norm2 = np.asarray(X[candidates].multiply(X[candidates]).sum(axis=1)).ravel()
    bound = p[candidates] * (1 - p[candidates]) * norm2
    keep = np.argsort(-bound, kind="stable")[:_INFO_POOL]
    Xc = X[candidates[keep]]
    S = (Xc @ Xc.T).toarray()
    if len(labeled):
        Xl = X[labeled]
        pl = p[labeled]
        A = (Xl @ Xl.T).toarray() + np.diag(1.0 / (pl * (1 - pl)))
        Kcl = (Xc @ Xl.T).toarray()
        S -= Kcl @ np.linalg.solve(A, Kcl.T)
    w = p[candidates[keep]] * (1 - p[candidates[keep]])
    available = np.ones(len(keep), dtype=bool)
    chosen = []
    for _ in range(min(n, len(keep))):
        gain = np.where(available, np.log1p(w * np.clip(np.diag(S), 0.0, None)), -np.inf)
        j = int(np.argmax(gain))
        available[j] = False
        chosen.append(j)
        s = S[:, j].copy()
        S -= np.outer(s, s) * (w[j] / (1.0 + w[j] * S[j, j]))
    return keep[np.array(chosen, dtype=np.int64)]
