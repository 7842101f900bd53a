"""Loading the MAL ratings files into index-mapped arrays, and the evaluation splits.

Ratings follow ``shared/data``: ``user_id,anime_id,rating`` where rating is 1-10 or -1
(completed but not scored, an implicit positive).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .preferences import DEFAULT_RULE, UNSCORED, PreferenceRule


@dataclass(frozen=True)
class Ratings:
    """Interactions as parallel arrays over dense indices.

    ``users``/``items`` index into ``user_ids``/``item_ids`` (the original ids);
    ``scores`` is float32 with -1 meaning completed-unscored.
    """

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def subset(self, mask: np.ndarray) -> Ratings:
        """Same index space, fewer rows."""
        return Ratings(
            self.users[mask], self.items[mask], self.scores[mask], self.user_ids, self.item_ids
        )

    def explicit(self) -> Ratings:
        return self.subset(self.scores != UNSCORED)

    def matrix(self, values: str = "score") -> sp.csr_matrix:
        """(n_users, n_items) CSR. ``values``: 'score' (as stored) or 'binary' (all 1)."""
        data = self.scores if values == "score" else np.ones_like(self.scores)
        return sp.csr_matrix(
            (data.astype(np.float32), (self.users, self.items)),
            shape=(self.n_users, self.n_items),
        )


def ratings_from_frame(df: pd.DataFrame) -> Ratings:
    """Build from a frame with columns user_id, anime_id, rating."""
    user_ids, users = np.unique(df["user_id"].to_numpy(), return_inverse=True)
    item_ids, items = np.unique(df["anime_id"].to_numpy(), return_inverse=True)
    return Ratings(
        users=users.astype(np.int32),
        items=items.astype(np.int32),
        scores=df["rating"].to_numpy().astype(np.float32),
        user_ids=user_ids,
        item_ids=item_ids,
    )


def load_ratings(path: str | Path) -> Ratings:
    """Read ``ratings.csv(.gz)``; ``path`` may be the file or the data folder holding it."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / "ratings.csv.gz", path / "ratings.csv"]
        path = next((p for p in candidates if p.exists()), candidates[0])
    df = pd.read_csv(path, dtype={"user_id": np.int64, "anime_id": np.int64, "rating": np.int16})
    return ratings_from_frame(df)


def split_explicit(
    ratings: Ratings, test_fraction: float = 0.2, seed: int = 0
) -> tuple[Ratings, Ratings]:
    """Random split of the explicit (1-10) rows for rating prediction."""
    explicit = ratings.explicit()
    rng = np.random.default_rng(seed)
    test = rng.random(len(explicit.scores)) < test_fraction
    return explicit.subset(~test), explicit.subset(test)


def is_positive(scores: np.ndarray, rule: PreferenceRule = DEFAULT_RULE) -> np.ndarray:
    """Positive = a like by ``rule`` (scored >= 8 by default), or completed without a score."""
    return rule.is_positive(scores)


def split_topn(
    ratings: Ratings,
    holdout_fraction: float = 0.2,
    min_positives: int = 5,
    seed: int = 1,
    rule: PreferenceRule = DEFAULT_RULE,
) -> tuple[Ratings, dict[int, np.ndarray]]:
    """Per-user hold-out of positives (:func:`is_positive` by ``rule``) for top-N evaluation.

    For users with >= ``min_positives`` positives, hold out ``holdout_fraction`` of them
    (at least one). Returns the training rows (everything not held out) and
    ``{user index: held-out item indices}``.
    """
    rng = np.random.default_rng(seed)
    positive = is_positive(ratings.scores, rule)
    held = np.zeros(len(ratings.scores), dtype=bool)
    order = np.argsort(ratings.users, kind="stable")
    pos_rows = order[positive[order]]
    bounds = np.searchsorted(ratings.users[pos_rows], np.arange(ratings.n_users + 1))
    test: dict[int, np.ndarray] = {}
    for u in range(ratings.n_users):
        rows = pos_rows[bounds[u] : bounds[u + 1]]
        if len(rows) < min_positives:
            continue
        k = max(1, int(round(holdout_fraction * len(rows))))
        pick = rng.choice(rows, size=k, replace=False)
        held[pick] = True
        test[u] = np.sort(ratings.items[pick])
    return ratings.subset(~held), test
