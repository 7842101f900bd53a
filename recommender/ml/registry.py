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


def _knn_factory(**params):
    from .knn_baseline import KNNBaseline

    return KNNBaseline(**params)


def _knn_saver(model, directory: Path) -> None:
    model.save(directory / "knn_baseline.npz")


def _knn_loader(directory: Path):
    from .knn_baseline import KNNBaseline

    return KNNBaseline.load(directory / "knn_baseline.npz")


def _nn_saver(model, directory: Path) -> None:
    model.save(directory)


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
    ),
    "watchlist_nn": EngineSpec(
        "watchlist_nn",
        "binary",
        _nn_factory,
        _nn_saver,
        _nn_loader,
        label="Neural watch-list model",
    ),
    # Holds its own fitted components (EASE, the network, ALS, KNN) in its artifact.
    "hybrid": EngineSpec(
        "hybrid",
        "scored",
        _hybrid_factory,
        _hybrid_saver,
        _hybrid_loader,
        label="Learned hybrid ranking",
    ),
}
# What POST /api/recommendations/ uses when the request names no engine.
DEFAULT_ENGINE = "hybrid"


def engine_choices() -> list[tuple[str, str]]:
    """(name, label) of every engine, for form and serializer choices."""
    return [(name, spec.label or name) for name, spec in ENGINES.items()]
