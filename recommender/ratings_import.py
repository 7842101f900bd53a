"""Bulk loading of community ratings (``user_id,anime_id,rating`` CSV, optionally gzipped).

The file is read and validated whole before any write, and written in one transaction, so
a bad file leaves the table as it was. PostgreSQL gets COPY into a temporary table and one
INSERT ... ON CONFLICT; other databases get batched bulk upserts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.db import connection, transaction

from catalog.models import Anime

from .models import CommunityRating

COLUMNS = ["user_id", "anime_id", "rating"]


class RatingsFileError(ValueError):
    pass


@dataclass
class RatingsImportResult:
    rows: int
    members: int
    titles: int
    skipped_unknown_titles: int


def read_ratings_file(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if path.is_dir():
        path = next(
            (p for p in (path / "ratings.csv.gz", path / "ratings.csv") if p.exists()),
            path / "ratings.csv.gz",
        )
    if not path.is_file():
        raise RatingsFileError(f"No ratings file at {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise RatingsFileError(f"{path}: unreadable CSV: {exc}") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise RatingsFileError(f"{path}: missing column(s) {', '.join(missing)}")
    out = {}
    for col in COLUMNS:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | (values != values.round())
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise RatingsFileError(
                f"{path}: line {first + 2}: {col} is not a whole number: {df[col].iloc[first]!r}"
            )
        out[col] = values.astype(np.int64)
    frame = pd.DataFrame(out)
    score = frame["rating"]
    bad = ~((score == -1) | score.between(1, 10))
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise RatingsFileError(
            f"{path}: line {first + 2}: rating must be 1-10 or -1, got {score.iloc[first]}"
        )
    dup = frame.duplicated(["user_id", "anime_id"], keep="last")
    return frame[~dup]


def _copy_postgres(frame: pd.DataFrame) -> None:
    table = CommunityRating._meta.db_table
    buf = io.StringIO()
    frame[COLUMNS].to_csv(buf, header=False, index=False)
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE ratings_in (member int, anime_id int, score smallint) ON COMMIT DROP"
        )
        with cur.copy(
            "COPY ratings_in (member, anime_id, score) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            copy.write(buf.getvalue())
        cur.execute(
            f"INSERT INTO {table} (member, anime_id, score) "  # noqa: S608 - our own table name
            "SELECT member, anime_id, score FROM ratings_in "
            "ON CONFLICT (member, anime_id) DO UPDATE SET score = EXCLUDED.score"
        )
        # Dropped now, not only at commit: an enclosing transaction may import again.
        cur.execute("DROP TABLE ratings_in")


def _bulk_generic(frame: pd.DataFrame) -> None:
    rows = frame[COLUMNS].to_numpy()
    batch = 5000
    for start in range(0, len(rows), batch):
        CommunityRating.objects.bulk_create(
            [
                CommunityRating(member=int(u), anime_id=int(a), score=int(s))
                for u, a, s in rows[start : start + batch]
            ],
            update_conflicts=True,
            unique_fields=["member", "anime"],
            update_fields=["score"],
        )


def community_ratings_import(
    *, path: str | Path, skip_unknown_titles: bool = False
) -> RatingsImportResult:
    """Load a ratings file into CommunityRating, all or nothing; re-imports update scores.

    Titles missing from the catalog are an error (import the catalog first) unless
    ``skip_unknown_titles``, which drops and counts them.
    """
    frame = read_ratings_file(path)
    known = set(Anime.objects.values_list("mal_id", flat=True))
    unknown = ~frame["anime_id"].isin(known)
    if unknown.any() and not skip_unknown_titles:
        ids = sorted(frame.loc[unknown, "anime_id"].unique())
        raise RatingsFileError(
            f"{len(ids)} title(s) are not in the catalog (e.g. {ids[:5]}); import the catalog "
            "first, or pass --skip-unknown-titles."
        )
    frame = frame[~unknown]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _copy_postgres(frame)
        else:
            _bulk_generic(frame)
    return RatingsImportResult(
        rows=len(frame),
        members=frame["user_id"].nunique(),
        titles=frame["anime_id"].nunique(),
        skipped_unknown_titles=int(unknown.sum()),
    )
