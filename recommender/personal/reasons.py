"""The reasons on a recommendation card: stored as data, written in plain words on read.

A stored reason is a small dict (``UserRecommendation.reasons``):

* ``{"kind": "liked", "titles": [{"mal_id": 1, "title": "Cowboy Bebop"}, ...]}``
  -> "Because you liked Cowboy Bebop and Trigun"
* ``{"kind": "taste", "features": ["Psychological", "Thriller"]}``
  -> "Matches your taste for Psychological and Thriller"
* ``{"kind": "community"}`` -> "Popular with people who rate like you"
* ``{"kind": "popular"}`` -> "Popular with everyone" (no list to go on yet)

Keeping data, not sentences, lets the wording change without recomputing anyone's list,
and gives the API the titles behind a reason.
"""

from __future__ import annotations

LIKED = "liked"
TASTE = "taste"
COMMUNITY = "community"
POPULAR = "popular"
KINDS = (LIKED, TASTE, COMMUNITY, POPULAR)

# Taste-model feature prefixes that name something a title has (recommender.ml.taste).
TASTE_FEATURE_PREFIXES = ("genre:", "theme:", "demographic:", "studio:")


def _and(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def reason_text(reason: dict) -> str:
    kind = reason.get("kind")
    if kind == LIKED and reason.get("titles"):
        return "Because you liked " + _and([t["title"] for t in reason["titles"]])
    if kind == TASTE and reason.get("features"):
        return "Matches your taste for " + _and(list(reason["features"]))
    if kind == COMMUNITY:
        return "Popular with people who rate like you"
    if kind == POPULAR:
        return "Popular with everyone"
    return ""


def reasons_text(reasons: list[dict]) -> list[str]:
    """Each reason in words, strongest first, without blanks or repeats."""
    return list(dict.fromkeys(t for t in (reason_text(r) for r in reasons) if t))


def taste_features_of(
    title_features: set[str], liked_features: list[str], top: int = 2
) -> list[str]:
    """The member's strongest liked features (``"genre:Psychological"``, best first) that a
    title has, as readable names (``"Psychological"``)."""
    found = [f for f in liked_features if f in title_features]
    return [f.split(":", 1)[1] for f in found[:top]]
