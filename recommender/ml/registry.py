"""Which engines the platform trains and serves, and what matrix each learns from.

Imports are lazy: torch takes seconds to import and only the NN needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EngineSpec:
    name: str
    # "explicit": 1-10 scores only; "binary": every completed title, scored or not, as 1;
    # "scored": every completed title with its score, -1 where unscored.
    matrix: str
    factory: Callable[..., Any]
    # Both take the version's directory: engines differ in how many files they write.
    saver: Callable[[Any, Path], None]
    loader: Callable[[Path], Any]
    defaults: dict = field(default_factory=dict)
    label: str = ""  # for people: API, admin, pages; the name when empty
    # A member's recommendations page: its tab's name (the label when empty) and place
    # (lower first; the first tab with cards is the default: the best ranker offline).
    tab_label: str = ""
    page_order: int = 100
    # The Engines page's line about it, beside the evaluation harness's baselines.
    description: str = ""
    # Similar titles: who the item neighbours come from, for the title page ("Liked by
    # ..."); engines without one name no neighbours. Tried in ENGINES order. An engine
    # that names them has ``neighbours(k)`` and its saver writes them
    # (:mod:`recommender.ml.neighbours`).
    neighbours_by: str = ""
    # Whether the engine predicts the member's score on the 1-10 scale (the cards'
    # "You'd rate it about ..." and the item neighbours that reasons name).
    predicts_score: bool = False
    # Reads a member's likes and dislikes: the factory takes the preference rule's
    # ``like_min`` / ``dislike_max`` (recommender.ml.preferences) and saves them.
    reads_preferences: bool = False


def _knn_factory(**params):
    from .knn_baseline import KNNBaseline

    return KNNBaseline(**params)


def _save_neighbours(model, directory: Path) -> None:
    """Every title's ranked neighbours beside the model, so similar titles are served
    without loading it (:mod:`recommender.ml.neighbours`)."""
    from .neighbours import NEIGHBOURS_KEPT, neighbours_save

    neighbours_save(directory, *model.neighbours(NEIGHBOURS_KEPT))


def _knn_saver(model, directory: Path) -> None:
    model.save(directory / "knn_baseline.npz")
    _save_neighbours(model, directory)


def _knn_loader(directory: Path):
    from .knn_baseline import KNNBaseline

    return KNNBaseline.load(directory / "knn_baseline.npz")


def _nn_saver(model, directory: Path) -> None:
    model.save(directory)
    _save_neighbours(model, directory)


def _nn_factory(**params):
    from .watchlist_nn import WatchlistNN

    return WatchlistNN(**params)


def _nn_loader(path: Path):
    from .watchlist_nn import WatchlistNN

    model = WatchlistNN.load(path)
    # Loaded to serve: one list per request, where handing a 600-wide layer to a second
    # thread costs more than it saves, and web workers already fill the cores.
    model.n_threads = 1
    return model


def _hybrid_factory(**params):
    from .hybrid import HybridRanker

    return HybridRanker(**params)


def _hybrid_saver(model, directory: Path) -> None:
    model.save(directory / "hybrid")


def _hybrid_loader(directory: Path):
    from .hybrid import HybridRanker

    return HybridRanker.load(directory / "hybrid")


# The one list of engines: the API's choices, the admin, training commands and beat all
# derive from it, so a new engine registers here and nowhere else.
ENGINES: dict[str, EngineSpec] = {
    "knn_baseline": EngineSpec(
        "knn_baseline",
        "explicit",
        _knn_factory,
        _knn_saver,
        _knn_loader,
        label="Item KNN with baseline",
        page_order=2,
        description="Item KNN with baseline on community scores (served).",
        neighbours_by="people who rated this title alike (item KNN)",
        predicts_score=True,
    ),
    "watchlist_nn": EngineSpec(
        "watchlist_nn",
        "binary",
        _nn_factory,
        _nn_saver,
        _nn_loader,
        label="Neural watch-list model",
        page_order=1,
        description="Neural watch-list model over every title (served).",
        neighbours_by="people who watched this title (watch-list network)",
    ),
    # Holds its own fitted components (EASE, the network, ALS, KNN) in its artifact.
    "hybrid": EngineSpec(
        "hybrid",
        "scored",
        _hybrid_factory,
        _hybrid_saver,
        _hybrid_loader,
        label="Learned hybrid ranking",
        tab_label="Hybrid",
        page_order=0,
        reads_preferences=True,
    ),
}
# What POST /api/recommendations/ uses when the request names no engine.
DEFAULT_ENGINE = "hybrid"


def engine_choices() -> list[tuple[str, str]]:
    """(name, label) of every engine, for form and serializer choices."""
    return [(name, spec.label or name) for name, spec in ENGINES.items()]


def engines_in_page_order() -> list[str]:
    """Engine names as a member's recommendations page lists them."""
    return sorted(ENGINES, key=lambda name: ENGINES[name].page_order)


def neighbour_engines() -> list[str]:
    """Engines that name similar titles, in the order they are tried."""
    return [name for name, spec in ENGINES.items() if spec.neighbours_by]


def score_predictor() -> str | None:
    """The engine whose 1-10 estimate cards show (and whose neighbours reasons name)."""
    return next((name for name, spec in ENGINES.items() if spec.predicts_score), None)
