"""Shared fixtures: fast hashing, users, the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ANIMENDER_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def shared_data() -> Path:
    """The full shared data set (13,494 titles, 520k ratings)."""
    return SHARED_DATA


@pytest.fixture
def mini_data() -> Path:
    """The 1,500-title / 399-user subset for fast tests."""
    return SHARED_DATA / "mini"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw-alice-123")


@pytest.fixture
def charlie(django_user_model):
    return django_user_model.objects.create_user("charlie", "charlie@example.com", "pw-charlie-1")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client
