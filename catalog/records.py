"""The normalised shape of one title, shared by the CSV importer and the MAL sync.

Both sources are mapped to :class:`AnimeRecord` first, so the one bulk upsert in
``services.py`` is the only code that writes catalog rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
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


_NOT_WORD = re.compile(r"[\W_]+")
# Names are joined with this mark around each one, so "|naruto|" is an exact name match
# and "|naruto" a name that starts with it, in SQL LIKE on every database.
NAME_MARK = "|"


def _strip_latin_accents(text: str) -> str:
    """``Déjà vu`` -> ``Deja vu``; kana keep their voicing marks (が is not か)."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch) and out and out[-1] < "\u0250":
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def normalize_name(text: str) -> str:
    """How titles and queries are compared: width- and case-folded, Latin accents
    dropped, punctuation as spaces. ``Steins;Gate`` and ``steins gate`` are equal."""
    folded = _strip_latin_accents(unicodedata.normalize("NFKC", text)).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())


# One trailing qualifier in parentheses, as MAL tells same-named titles apart:
# "Jujutsu Kaisen (TV)", "Hunter x Hunter (2011)", "Fullmetal Alchemist (2009)".
_QUALIFIER = re.compile(r"^(.*\S)\s*\([^()]*\)\s*$")  # 呪術廻戦（TV） has no space


def without_qualifier(name: str) -> str:
    """``Hunter x Hunter (2011)`` -> ``Hunter x Hunter``; a name without one unchanged."""
    match = _QUALIFIER.match(unicodedata.normalize("NFKC", name))
    return match.group(1) if match else name


def search_text_of(names: Iterable[str]) -> str:
    """The stored search column: ``|name one|name two|``, normalised, each name once.

    A name with a trailing qualifier is also stored without it, so "jujutsu kaisen" is an
    exact name of *Jujutsu Kaisen (TV)* and popularity decides between it and the ONA
    *Jujutsu Kaisen*. The bare name is a prefix of the full one, so it adds no match and
    changes no tier but the exact one."""
    spelled = (v for x in names if x for v in (x, without_qualifier(x)))
    unique = list(dict.fromkeys(n for n in (normalize_name(x) for x in spelled) if n))
    return f"{NAME_MARK}{NAME_MARK.join(unique)}{NAME_MARK}" if unique else ""


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
        return search_text_of(
            [
                merged.get("title", ""),
                merged.get("title_english", ""),
                merged.get("title_japanese", ""),
                *(merged.get("synonyms") or []),
            ]
        )

    def is_adult(self) -> bool | None:
        if self.genres is None and "rating" not in self.values:
            return None
        by_genre = any(g.name in ADULT_GENRES for g in self.genres or [])
        return by_genre or self.values.get("rating") == "rx"
