"""The normalised shape of one title, shared by the CSV importer and the MAL sync.

Both sources are mapped to :class:`AnimeRecord` first, so the one bulk upsert in
``services.py`` is the only code that writes catalog rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Fields of Anime an upsert may set; a record only carries the ones its source knows, so a
# source that lacks a field (the CSV has no English title) never blanks what another set.
ANIME_FIELDS = (
    "title",
    "title_english",
    "title_japanese",
    "synonyms",
    "synopsis",
    "media_type",
    "status",
    "num_episodes",
    "start_date",
    "end_date",
    "start_season",
    "start_year",
    "source",
    "rating",
    "mean",
    "rank",
    "popularity",
    "num_list_users",
    "num_scoring_users",
    "num_favorites",
    "average_episode_duration",
    "nsfw",
    "picture_medium",
    "picture_large",
    "mal_updated_at",
)

ADULT_GENRES = frozenset({"Hentai"})
# MAL's seasons in calendar order (winter = January-March): the one list every module uses.
SEASONS = ("winter", "spring", "summer", "fall")


@dataclass
class NamedRef:
    """A genre or studio: MAL sends ids, the CSV only names."""

    name: str
    mal_id: int | None = None


@dataclass
class AnimeRecord:
    mal_id: int
    values: dict = field(default_factory=dict)
    genres: list[NamedRef] | None = None  # None = source did not say; [] = has none
    studios: list[NamedRef] | None = None

    def search_text(self, existing: dict | None = None) -> str:
        merged = {**(existing or {}), **self.values}
        names = [
            merged.get("title", ""),
            merged.get("title_english", ""),
            merged.get("title_japanese", ""),
            *(merged.get("synonyms") or []),
        ]
        return "\n".join(n for n in names if n).lower()

    def is_adult(self) -> bool | None:
        if self.genres is None and "rating" not in self.values:
            return None
        by_genre = any(g.name in ADULT_GENRES for g in self.genres or [])
        return by_genre or self.values.get("rating") == "rx"
