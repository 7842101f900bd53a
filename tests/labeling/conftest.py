"""A small planted catalog: members who like Mecha titles and dislike Romance ones."""

from __future__ import annotations

import pytest

from accounts.models import ListEntry, Profile
from catalog.models import Anime
from labeling.models import Label
from tests.catalog.factories import AnimeFactory

GENRES = ["Mecha", "Romance", "Comedy", "Drama", "Sports", "Horror"]
WORDS = {
    "Mecha": "giant robot pilot cockpit battle",
    "Romance": "love confession date heart",
    "Comedy": "funny gag slapstick",
    "Drama": "tears family loss",
    "Sports": "team match tournament",
    "Horror": "ghost blood fear",
}


@pytest.fixture(autouse=True)
def _taste_settings(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    settings.TASTE_RETRAIN_EVERY = 10
    settings.TASTE_COMMUNITY_FEATURES = False
    settings.TASTE_EXPLORATION = 0.0


@pytest.fixture
def catalog(db) -> list[Anime]:
    """96 titles: 16 per main genre, second genre rotating, years and popularity spread;
    plus 4 adult titles."""
    titles = []
    for i in range(96):
        main = GENRES[i % len(GENRES)]
        other = GENRES[(i // len(GENRES) + 1 + i) % len(GENRES)]
        titles.append(
            AnimeFactory(
                mal_id=1000 + i,
                title=f"{main} story {i}",
                synopsis=f"A {main.lower()} tale. {WORDS[main]} {WORDS[main]}.",
                genres=[main, other] if other != main else [main],
                start_year=1990 + i % 30,
                popularity=1 + i,
                num_list_users=100_000 - 900 * i,
                mean=6.0 + (i % 30) / 10,
                num_episodes=12 + i % 14,
            )
        )
    for j in range(4):
        titles.append(
            AnimeFactory(
                mal_id=5000 + j,
                title=f"Adult title {j}",
                genres=["Hentai"],
                is_adult=True,
                popularity=1,  # the most popular of all: the queue must still hide them
                num_list_users=500_000,
            )
        )
    return titles


def main_genre(anime: Anime) -> str:
    return anime.title.split()[0]


def label_planted(user, catalog, n: int, *, offset: int = 0) -> list[Label]:
    """``n`` answers of a member who likes Mecha and Sports and dislikes the rest."""
    picked = [a for a in catalog if not a.is_adult][offset : offset + n]
    return [
        Label.objects.create(
            user=user,
            anime=a,
            answer="like" if main_genre(a) in ("Mecha", "Sports") else "dislike",
        )
        for a in picked
    ]


@pytest.fixture
def adult_ok(alice):
    Profile.objects.update_or_create(user=alice, defaults={"show_adult": True})


def list_entry(user, anime, *, score=None, status="completed", not_interested=False):
    return ListEntry.objects.create(
        user=user, anime=anime, score=score, status=status, not_interested=not_interested
    )
