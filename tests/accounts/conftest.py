"""Fixtures for accounts tests: a small catalog, API clients with tokens, the fake MAL."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts import services
from tests.catalog.conftest import fake_mal, mal_settings, sleeps  # noqa: F401 (fixtures)
from tests.catalog.factories import AnimeFactory


@pytest.fixture
def titles(db):
    """Five titles with genres; mal ids 1, 5, 6, 30, 32 (as in MAL, so imports line up)."""
    specs = [
        (1, "Cowboy Bebop", ["Action", "Sci-Fi"], 8.75),
        (5, "Cowboy Bebop: Tengoku no Tobira", ["Action", "Sci-Fi"], 8.4),
        (6, "Trigun", ["Action", "Comedy"], 8.2),
        (30, "Neon Genesis Evangelion", ["Mecha", "Sci-Fi"], 8.3),
        (32, "Neon Genesis Evangelion: The End of Evangelion", ["Mecha", "Drama"], 8.5),
    ]
    return {
        mal_id: AnimeFactory(mal_id=mal_id, title=title, genres=genres, mean=mean)
        for mal_id, title, genres, mean in specs
    }


def _token_client(user) -> APIClient:
    _, key = services.api_token_create(user=user, name="tests")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


@pytest.fixture
def alice_api(alice) -> APIClient:
    return _token_client(alice)


@pytest.fixture
def charlie_api(charlie) -> APIClient:
    return _token_client(charlie)


@pytest.fixture(autouse=True)
def _fresh_throttles():
    # Throttle counters live in the cache, which outlives a test; each test starts at zero.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
