"""Fixtures for the ML tests: plain data, no Django (they also run with ``-p no:django``)."""

from __future__ import annotations

import pytest

from recommender.ml import data
from tests.conftest import SHARED_DATA

MINI = SHARED_DATA / "mini"


@pytest.fixture(scope="session")
def mini_ratings() -> data.Ratings:
    """The 399-user / 1,500-title subset of the shared MAL ratings."""
    return data.load_ratings(MINI)


@pytest.fixture(scope="session")
def mini_topn(mini_ratings) -> tuple[data.Ratings, dict]:
    """``split_topn`` of the mini data: (training rows, {user: held-out items})."""
    return data.split_topn(mini_ratings, seed=1)


@pytest.fixture(scope="session")
def mini_catalog():
    """The mini catalog as a pandas frame (1,500 titles)."""
    import pandas as pd

    return pd.read_csv(MINI / "catalog.csv")


@pytest.fixture(scope="session")
def mini_interactions():
    """The mini ratings as a ``user_id, anime_id, rating`` frame."""
    import pandas as pd

    return pd.read_csv(MINI / "ratings.csv")


@pytest.fixture(scope="session")
def mini_features(mini_catalog, mini_interactions):
    """Taste-model features of the mini catalog, community columns from the mini ratings."""
    from recommender.ml.taste import build_catalog_features

    return build_catalog_features(mini_catalog, interactions=mini_interactions, random_state=0)
