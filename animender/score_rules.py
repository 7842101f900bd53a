"""The site's preference rule: what a member's score says (like, dislike), from settings.

The rule itself lives in :mod:`recommender.ml.preferences` (plain Python, so ml code and
benchmarks share it); this is the one place that reads its knobs,
``RECOMMENDER_LIKE_MIN_SCORE`` and ``RECOMMENDER_DISLIKE_MAX_SCORE``. Every engine, reason
and taste label asks here.
"""

from __future__ import annotations

from django.conf import settings

from recommender.ml.preferences import PreferenceRule


def preference_rule() -> PreferenceRule:
    """Built per call: tests and operators change settings without a restart."""
    return PreferenceRule(
        like_min=settings.RECOMMENDER_LIKE_MIN_SCORE,
        dislike_max=settings.RECOMMENDER_DISLIKE_MAX_SCORE,
    )
