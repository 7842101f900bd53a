"""The catalog as the taste model sees it: one frame, features built once per catalog version.

The catalog version is a fingerprint of the Anime table (row count and newest
``updated_at``; every import and sync upsert stamps ``updated_at``) and of the community
ratings the features may learn from. Features are published under
``MODEL_DIR/taste/catalog/<version>/`` with :mod:`recommender.ml.artifacts`, so a sync or
import makes the next training build them again, and a half-written build is never read.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import Count, Max

from catalog.models import Anime
from recommender.ml import artifacts
from recommender.models import CommunityRating

FEATURES_ENGINE = "catalog"

# The catalog CSV derives these columns from MAL's old genre list (shared data README);
# a synced catalog carries them the same way, as genres.
THEMES = frozenset(
    {
        "Harem",
        "Historical",
        "Martial Arts",
        "Mecha",
        "Military",
        "Music",
        "Parody",
        "Psychological",
        "Samurai",
        "School",
        "Space",
        "Super Power",
        "Vampire",
    }
)
DEMOGRAPHICS = frozenset({"Shounen", "Shoujo", "Seinen", "Josei", "Kids"})


def taste_root() -> Path:
    return Path(settings.MODEL_DIR) / "taste"


def catalog_version() -> str:
    """A short fingerprint that changes whenever titles are added, updated or removed."""
    stats = Anime.objects.aggregate(n=Count("mal_id"), newest=Max("updated_at"))
    return hashlib.sha1(f"{stats['n']}|{stats['newest']}".encode()).hexdigest()[:16]


def features_version() -> str:
    """The catalog version, plus the community ratings when features learn from them, plus
    the feature layout (new code builds new columns instead of reading old ones)."""
    from recommender.ml.taste import FEATURES_LAYOUT

    ratings = CommunityRating.objects.count() if settings.TASTE_COMMUNITY_FEATURES else 0
    raw = f"{catalog_version()}|{ratings}|{FEATURES_LAYOUT}"
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def _joined(links: dict[int, list[str]], mal_id: int, keep=None) -> str:
    names = links.get(mal_id, [])
    return ", ".join(n for n in names if keep is None or n in keep)


def catalog_frame() -> pd.DataFrame:
    """Every title as one row with the shared data's catalog.csv columns (ordered by mal_id).

    Only the columns in ``recommender.ml.taste.CATALOG_COLUMNS`` are returned, so the
    model sees exactly what it asks for; an unknown column is an error, not a blank.
    """
    from recommender.ml.taste import CATALOG_COLUMNS

    fields = (
        "mal_id",
        "title",
        "synonyms",
        "title_english",
        "media_type",
        "num_episodes",
        "mean",
        "num_list_users",
        "popularity",
        "rank",
        "num_scoring_users",
        "num_favorites",
        "start_season",
        "start_year",
        "start_date",
        "source",
        "rating",
        "picture_large",
        "picture_medium",
        "synopsis",
    )
    rows = list(Anime.objects.order_by("mal_id").values_list(*fields))
    genres: dict[int, list[str]] = defaultdict(list)
    for mal_id, name in Anime.genres.through.objects.values_list("anime_id", "genre__name"):
        genres[mal_id].append(name)
    studios: dict[int, list[str]] = defaultdict(list)
    for mal_id, name in Anime.studios.through.objects.values_list("anime_id", "studio__name"):
        studios[mal_id].append(name)
    for names in (*genres.values(), *studios.values()):
        names.sort()
    raw = pd.DataFrame(rows, columns=fields)
    ids = raw["mal_id"].astype("int64")
    types = dict(Anime.MediaType.choices)
    ratings = dict(Anime.Rating.choices)
    seasons = dict(Anime.Season.choices)

    def premiered(season: str, year) -> str:
        # The CSV writes "Spring 1998"; a synced title may know its year but no season.
        if pd.isna(year):
            return ""
        return f"{seasons[season]} {int(year)}" if season else str(int(year))

    def number(column: str) -> pd.Series:
        return pd.to_numeric(raw[column], errors="coerce").astype("float64")

    columns = {
        "anime_id": lambda: ids,
        "name": lambda: raw["title"],
        "alt_titles": lambda: [
            " | ".join(dict.fromkeys(t for t in [en, *syn] if t))
            for en, syn in zip(raw["title_english"], raw["synonyms"], strict=True)
        ],
        "type": lambda: [types.get(t, "") if t != "unknown" else "" for t in raw["media_type"]],
        "episodes": lambda: number("num_episodes"),
        "genres": lambda: [_joined(genres, m) for m in ids],
        "themes": lambda: [_joined(genres, m, THEMES) for m in ids],
        "demographics": lambda: [_joined(genres, m, DEMOGRAPHICS) for m in ids],
        "score": lambda: number("mean"),
        "members": lambda: number("num_list_users"),
        "popularity": lambda: number("popularity"),
        "rank": lambda: number("rank"),
        "scored_by": lambda: number("num_scoring_users"),
        "favorites": lambda: number("num_favorites"),
        "premiered": lambda: [
            premiered(s, y) for s, y in zip(raw["start_season"], raw["start_year"], strict=True)
        ],
        "year": lambda: number("start_year"),
        "start_date": lambda: raw["start_date"],
        "source": lambda: raw["source"],
        "studios": lambda: [_joined(studios, m) for m in ids],
        "age_rating": lambda: [ratings.get(r, "") for r in raw["rating"]],
        "image_url": lambda: [
            a or b for a, b in zip(raw["picture_large"], raw["picture_medium"], strict=True)
        ],
        "url": lambda: [f"https://myanimelist.net/anime/{m}" for m in ids],
        "synopsis": lambda: raw["synopsis"],
        "meta_source": lambda: [""] * len(raw),
        "synopsis_source": lambda: [""] * len(raw),
    }
    unknown = [c for c in CATALOG_COLUMNS if c not in columns]
    if unknown:
        raise KeyError(f"no catalog mapping for taste column(s): {', '.join(unknown)}")
    return pd.DataFrame({c: columns[c]() for c in CATALOG_COLUMNS}, index=pd.RangeIndex(len(raw)))


_cache: dict[str, object] = {}
_lock = threading.Lock()


def _build_and_publish(version: str):
    from recommender.engines.training_data import interactions_frame
    from recommender.ml.taste import build_catalog_features

    frame = catalog_frame()
    interactions = None
    if settings.TASTE_COMMUNITY_FEATURES and CommunityRating.objects.exists():
        interactions = interactions_frame()
    features = build_catalog_features(frame, interactions=interactions, random_state=0)
    meta = {"titles": len(frame), "features": len(features.feature_names)}
    try:
        artifacts.publish(
            taste_root(), FEATURES_ENGINE, version, features.mal_ids, meta, features.save
        )
    except FileExistsError:
        pass  # another worker published the same version first; theirs is identical
    return features


def catalog_features_get(*, version: str | None = None):
    """The CatalogFeatures of the current catalog: from memory, from disk, or built now."""
    from recommender.ml.taste import CatalogFeatures

    version = version or features_version()
    with _lock:
        if version in _cache:
            return _cache[version]
        path = artifacts.engine_dir(taste_root(), FEATURES_ENGINE) / version
        if (path / "artifact.json").exists():
            features = CatalogFeatures.load(path)
        else:
            features = _build_and_publish(version)
        _cache.clear()  # one catalog version per process: the old matrix is dead weight
        _cache[version] = features
        return features


_cold_cache: dict[str, np.ndarray] = {}


def _save_atomically(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}-{os.getpid()}-{threading.get_ident()}.npy")
    np.save(tmp, array, allow_pickle=False)
    os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one


def cold_start_mal_ids(*, version: str | None = None) -> np.ndarray:
    """MAL ids in the order a new member should see them.

    Computed from the catalog frame once per catalog version (a fraction of a second) and
    kept on disk and in memory, so later queue requests only read it.
    """
    from recommender.ml.active_learning import cold_start_order

    version = version or catalog_version()
    cached = _cold_cache.get(version)
    if cached is not None:
        return cached
    path = taste_root() / "cold_start" / f"{version}.npy"
    if path.exists():
        order = np.load(path, allow_pickle=False)
    else:
        frame = catalog_frame()
        order = frame["anime_id"].to_numpy(dtype=np.int64)[cold_start_order(frame, random_state=0)]
        _save_atomically(path, order)
        for stale in path.parent.glob("*.npy"):
            # One file per catalog version (every sync makes one); others' temp files stay.
            if stale != path and not stale.name.startswith("."):
                stale.unlink(missing_ok=True)
    _cold_cache.clear()
    _cold_cache[version] = order
    return order
