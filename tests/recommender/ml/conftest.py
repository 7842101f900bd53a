"""Fixtures for the plain-pytest ML tests (run with ``-p no:django``)."""

from __future__ import annotations

import os
import types
from pathlib import Path

import pytest

from recommender.ml import data

DATA_DIR = Path(
    os.environ.get(
        "ANIMENDER_DATA_DIR", Path(__file__).resolve().parents[3].parent / "shared" / "data"
    )
)
MINI = DATA_DIR / "mini"


@pytest.fixture
def settings():
    """Stand-in for pytest-django's fixture, which tests/conftest.py's autouse hasher
    fixture asks for; the ML tests never touch Django settings."""
    return types.SimpleNamespace()


@pytest.fixture(scope="session")
def mini_ratings() -> data.Ratings:
    """The 399-user / 1,500-title subset of the shared MAL ratings."""
    if not MINI.exists():
        pytest.skip(f"mini data not found at {MINI}")
    return data.load_ratings(MINI)


@pytest.fixture(scope="session")
def mini_topn(mini_ratings) -> tuple[data.Ratings, dict]:
    """``split_topn`` of the mini data: (training rows, {user: held-out items})."""
    return data.split_topn(mini_ratings, seed=1)
