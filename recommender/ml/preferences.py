"""What a score says about a member's taste: the one definition of like, dislike and unscored.

Scores follow MyAnimeList: 1-10, or ``UNSCORED`` (-1) for a title completed without a
score. Every engine, reason and label reads :class:`PreferenceRule`; the Django side builds
it from settings (``animender.score_rules.preference_rule``), ml code takes it as a
parameter and engines record the rule they were trained with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Completed without a score: an implicit positive, never a like or a dislike by score.
UNSCORED = -1


@dataclass(frozen=True)
class PreferenceRule:
    """A score >= ``like_min`` is a like, 1..``dislike_max`` a dislike, between is neither.

    The defaults are the data set's: like >= 8 (the top-N evaluation's positives), dislike
    <= 4 (low scores that count against a title's neighbours).
    """

    like_min: int = 8
    dislike_max: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.dislike_max < self.like_min <= 10:
            raise ValueError(
                f"need 1 <= dislike_max < like_min <= 10, got dislike_max={self.dislike_max}, "
                f"like_min={self.like_min}"
            )

    def is_like(self, scores: np.ndarray) -> np.ndarray:
        """Boolean mask, same shape as ``scores``: scored ``like_min`` or more."""
        return np.asarray(scores) >= self.like_min

    def is_dislike(self, scores: np.ndarray) -> np.ndarray:
        """Boolean mask: scored 1..``dislike_max`` (0 = absent and -1 = unscored are not)."""
        s = np.asarray(scores)
        return (s >= 1) & (s <= self.dislike_max)

    def is_positive(self, scores: np.ndarray) -> np.ndarray:
        """Boolean mask: a like, or completed without a score (top-N hold-out positives)."""
        s = np.asarray(scores)
        return self.is_like(s) | (s == UNSCORED)

    def as_params(self) -> dict[str, int]:
        """``{"like_min": .., "dislike_max": ..}``: JSON for run params and model metadata."""
        return asdict(self)


DEFAULT_RULE = PreferenceRule()

# The community data's like-rates and title prior (the taste model's catalog features,
# ``recommender.ml.taste``): a like as above, but "disliked" reaches up to 6 so that only
# a 7 is neither. A feature definition, kept as measured (bench/active_learning.py); a
# member's likes and dislikes use the settings' rule.
COMMUNITY_RATE_RULE = PreferenceRule(like_min=DEFAULT_RULE.like_min, dislike_max=6)
