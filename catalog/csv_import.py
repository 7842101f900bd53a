"""Parsing the catalog CSV of ``shared/data/catalog.csv`` into :class:`AnimeRecord`s.

The whole file is parsed and validated before anything is written, so a malformed row
is reported with its line number and the database is left exactly as it was.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from .records import SEASONS, AnimeRecord, NamedRef

REQUIRED_COLUMNS = {"anime_id", "name"}

MEDIA_TYPES = {
    "tv": "tv",
    "ova": "ova",
    "movie": "movie",
    "special": "special",
    "ona": "ona",
    "music": "music",
    "tv special": "tv_special",
    "cm": "cm",
    "pv": "pv",
    "unknown": "unknown",
}
# The CSV keeps MAL's display label ("PG-13 - Teens 13 or older"); the API sends the code.
RATING_PREFIXES = (
    ("rx", "rx"),
    ("r+", "r+"),
    ("r ", "r"),
    ("pg-13", "pg_13"),
    ("pg ", "pg"),
    ("g ", "g"),
)


class CatalogCsvError(ValueError):
    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line


def _int(raw: str, column: str, line: int) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise CatalogCsvError(line, f"{column} is not a number: {raw!r}") from None
    if value != int(value) or value < 0:
        raise CatalogCsvError(line, f"{column} must be a whole number >= 0: {raw!r}")
    return int(value)


def _float(raw: str, column: str, line: int) -> float | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise CatalogCsvError(line, f"{column} is not a number: {raw!r}") from None


def _names(raw: str) -> list[NamedRef]:
    return [NamedRef(n.strip()) for n in raw.split(",") if n.strip()]


def _rating_code(label: str) -> str:
    low = label.strip().lower() + " "
    for prefix, code in RATING_PREFIXES:
        if low.startswith(prefix):
            return code
    return ""


def parse_row(row: dict[str, str], line: int) -> AnimeRecord:
    get = lambda key: (row.get(key) or "").strip()  # noqa: E731 - tiny local accessor
    mal_id = _int(get("anime_id"), "anime_id", line)
    if not mal_id:
        raise CatalogCsvError(line, "anime_id is missing or 0")
    title = get("name")
    if not title:
        raise CatalogCsvError(line, "name is empty")
    media_raw = get("type").lower()
    if media_raw and media_raw not in MEDIA_TYPES:
        raise CatalogCsvError(line, f"unknown type {get('type')!r}")
    score = _float(get("score"), "score", line)
    if score is not None and not 0 <= score <= 10:
        raise CatalogCsvError(line, f"score out of range 0-10: {score}")
    season, year = "", None
    if premiered := get("premiered"):
        parts = premiered.split()
        if len(parts) != 2 or parts[0].lower() not in SEASONS or not parts[1].isdigit():
            raise CatalogCsvError(line, f"premiered must look like 'Spring 1998': {premiered!r}")
        season, year = parts[0].lower(), int(parts[1])
    image = get("image_url")
    values = {
        "title": title,
        "synonyms": [t.strip() for t in get("alt_titles").split("|") if t.strip()],
        "synopsis": get("synopsis"),
        "media_type": MEDIA_TYPES.get(media_raw, ""),
        "num_episodes": _int(get("episodes"), "episodes", line),
        "start_season": season,
        "start_year": year,
        "rating": _rating_code(get("age_rating")),
        "mean": score,
        "rank": _int(get("rank"), "rank", line),
        "popularity": _int(get("popularity"), "popularity", line),
        "num_list_users": _int(get("members"), "members", line),
        "num_scoring_users": _int(get("scored_by"), "scored_by", line),
        "num_favorites": _int(get("favorites"), "favorites", line),
        "picture_medium": image,
        "picture_large": image,
    }
    return AnimeRecord(
        mal_id=mal_id, values=values, genres=_names(get("genres")), studios=_names(get("studios"))
    )


def parse_catalog_csv(source: str | Path | io.TextIOBase) -> Iterator[AnimeRecord]:
    """Yield one record per row; raise :class:`CatalogCsvError` naming the first bad line."""
    handle = (
        open(source, newline="", encoding="utf-8") if isinstance(source, str | Path) else source
    )
    line = 1
    try:
        reader = csv.DictReader(handle)
        missing = REQUIRED_COLUMNS - set(reader.fieldnames or [])
        if missing:
            raise CatalogCsvError(1, f"missing column(s): {', '.join(sorted(missing))}")
        for row in reader:
            line = reader.line_num
            if None in row:  # more cells than the header names
                raise CatalogCsvError(reader.line_num, "row has more cells than the header")
            yield parse_row(row, reader.line_num)
    except UnicodeDecodeError as exc:
        raise CatalogCsvError(line + 1, f"not UTF-8: {exc}") from None
    except csv.Error as exc:
        raise CatalogCsvError(line + 1, f"malformed CSV: {exc}") from None
    finally:
        if handle is not source:
            handle.close()
