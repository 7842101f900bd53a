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
