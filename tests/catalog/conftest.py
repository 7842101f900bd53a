"""The fake MAL server and a client pointed at it, with instant backoff."""

from __future__ import annotations

import pytest

from catalog.mal_client import MalClient
from tests.fakes.mal_server import VALID_CLIENT_ID, FakeMal


@pytest.fixture
def fake_mal(mini_data):
    with FakeMal.from_csv(mini_data / "catalog.csv") as fake:
        yield fake


@pytest.fixture
def mal_settings(settings, fake_mal):
    settings.MAL_API_BASE_URL = fake_mal.base_url
    settings.MAL_CLIENT_ID = VALID_CLIENT_ID
    settings.MAL_REQUEST_INTERVAL_SECONDS = 0
    settings.MAL_BACKOFF_BASE_SECONDS = 0.001
    settings.MAL_BACKOFF_MAX_SECONDS = 0.01
    settings.MAL_MAX_RETRIES = 3
    settings.MAL_TIMEOUT_SECONDS = 2.0
    return settings


class SleepRecorder:
    """Injected sleep: records the waits instead of waiting."""

    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def mal_client(mal_settings, sleeps):
    client = MalClient.from_settings(sleep=sleeps)
    yield client
    client.close()
