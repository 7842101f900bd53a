"""Bulk loading of community ratings (``user_id,anime_id,rating`` CSV, optionally gzipped).

The file is streamed in chunks of ``CHUNK_ROWS`` rows (memory is bounded by one chunk,
not by the file: MAL's 45M ratings are 0.5 GB of gzip), each chunk is validated and
written, and everything happens inside one transaction, so a bad line anywhere leaves
the table as it was. PostgreSQL gets a binary COPY of each chunk into a temporary table
and one INSERT ... ON CONFLICT from it; other databases get batched bulk upserts.

A (user, anime) pair repeated in the file keeps its last score, as before: duplicates
inside a chunk are dropped here, and a pair repeated in a later chunk is upserted again
by that chunk's INSERT (one INSERT over the whole file would need a 45M-row sort to
de-duplicate, and ON CONFLICT cannot touch one row twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.db import connection, transaction

from catalog.models import Anime
from recommender.models import CommunityRating

COLUMNS = ["user_id", "anime_id", "rating"]
CHUNK_ROWS = 1_000_000
INT32_MAX = 2**31 - 1
# PostgreSQL binary COPY: signature, flags, header extension length; a tuple is its field
# count then (length, big-endian value) per field; the trailer is a field count of -1.
_PG_HEADER = b"PGCOPY\n\xff\r\n\x00" + np.array([0, 0], ">i4").tobytes()
_PG_TRAILER = np.array([-1], ">i2").tobytes()
_PG_ROW = np.dtype(
    [
        ("nfields", ">i2"),
        ("len_member", ">i4"),
        ("member", ">i4"),
        ("len_anime", ">i4"),
        ("anime", ">i4"),
        ("len_score", ">i4"),
        ("score", ">i2"),
    ]
)


class RatingsFileError(ValueError):
    pass


@dataclass
class RatingsImportResult:
    rows: int
    members: int
    titles: int
    skipped_unknown_titles: int


@dataclass
class RatingsChunk:
    """Validated rows of one chunk as int32/int8 arrays; ``first_line`` is its file line."""

    first_line: int
    users: np.ndarray
    anime: np.ndarray
    scores: np.ndarray


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = next(
            (p for p in (path / "ratings.csv.gz", path / "ratings.csv") if p.exists()),
            path / "ratings.csv.gz",
        )
    if not path.is_file():
        raise RatingsFileError(f"No ratings file at {path}")
    return path


def _whole_numbers(path: Path, frame: pd.DataFrame, col: str, first_line: int) -> np.ndarray:
    """``frame[col]`` as int64; clean integer columns skip the slow string path."""
    raw = frame[col]
    if pd.api.types.is_integer_dtype(raw.dtype):
        return raw.to_numpy(np.int64)
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() | (values != values.round())
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise RatingsFileError(
            f"{path}: line {first_line + first}: {col} is not a whole number: {raw.iloc[first]!r}"
        )
    return values.to_numpy().astype(np.int64)


def _validate(path: Path, frame: pd.DataFrame, first_line: int) -> RatingsChunk:
    out = {col: _whole_numbers(path, frame, col, first_line) for col in COLUMNS}
    for col in ("user_id", "anime_id"):
        bad = (out[col] < 1) | (out[col] > INT32_MAX)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise RatingsFileError(
                f"{path}: line {first_line + first}: {col} must be a positive id, "
                f"got {out[col][first]}"
            )
    score = out["rating"]
    bad = ~((score == -1) | ((score >= 1) & (score <= 10)))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise RatingsFileError(
            f"{path}: line {first_line + first}: rating must be 1-10 or -1, got {score[first]}"
        )
    users = out["user_id"].astype(np.int32)
    anime = out["anime_id"].astype(np.int32)
    # Last occurrence of a repeated pair wins: unique over the reversed keys.
    keys = users.astype(np.int64) << 32 | anime.astype(np.int64)
    _, last = np.unique(keys[::-1], return_index=True)
    keep = np.sort(len(keys) - 1 - last)
    if len(keep) == len(keys):
        keep = slice(None)
    return RatingsChunk(first_line, users[keep], anime[keep], score.astype(np.int8)[keep])


def read_ratings_chunks(path: str | Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[RatingsChunk]:
    """Stream a ratings file as validated chunks; raise :class:`RatingsFileError` at the
    first bad line (with its line number)."""
    path = _resolve(path)
    try:
        header = pd.read_csv(path, nrows=0).columns
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise RatingsFileError(f"{path}: missing column(s) {', '.join(missing)}")
        reader = pd.read_csv(path, usecols=COLUMNS, chunksize=chunk_rows, keep_default_na=False)
        first_line = 2  # line 1 is the header
        for frame in reader:
            yield _validate(path, frame, first_line)
            first_line += len(frame)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise RatingsFileError(f"{path}: unreadable CSV: {exc}") from None
    except (UnicodeDecodeError, EOFError, OSError) as exc:
        raise RatingsFileError(f"{path}: unreadable CSV: {exc}") from None


def _pg_binary(chunk: RatingsChunk) -> bytes:
    rows = np.empty(len(chunk.users), dtype=_PG_ROW)
    rows["nfields"] = 3
    rows["len_member"] = 4
    rows["member"] = chunk.users
    rows["len_anime"] = 4
    rows["anime"] = chunk.anime
    rows["len_score"] = 2
    rows["score"] = chunk.scores
    return _PG_HEADER + rows.tobytes() + _PG_TRAILER


class _PostgresWriter:
    """Binary COPY of each chunk into a temporary table, then one upsert from it.

    From the second chunk on (a bulk load), the foreign key to the catalog is dropped and
    added back before commit: re-adding validates every row in one join, where keeping it
    costs a per-row trigger with a row lock on the title (half of the insert time). The
    rows were already checked against the catalog here; a concurrent catalog delete is
    caught by the re-validation and fails the import. Inside the transaction, so a
    failure rolls the constraint back too; the table is locked for the import's length.
    """

    def __init__(self, cursor) -> None:
        self.cur = cursor
        self.table = CommunityRating._meta.db_table
        self.chunks = 0
        self.dropped_fk: list[tuple[str, str]] = []
        # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: checked at commit, 45M
        # queued trigger events would pile up in the server. Check them per chunk instead.
        self.cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        self.cur.execute(
            "CREATE TEMP TABLE ratings_in (member int, anime_id int, score smallint) ON COMMIT DROP"
        )

    def _drop_foreign_keys(self) -> None:
        self.cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f'",
            [self.table],
        )
        self.dropped_fk = list(self.cur.fetchall())
        for name, _ in self.dropped_fk:
            self.cur.execute(f'ALTER TABLE {self.table} DROP CONSTRAINT "{name}"')

    def write(self, chunk: RatingsChunk) -> None:
        self.chunks += 1
        if self.chunks == 2:
            self._drop_foreign_keys()
        sql = "COPY ratings_in (member, anime_id, score) FROM STDIN (FORMAT binary)"
        with self.cur.copy(sql) as copy:
            copy.write(_pg_binary(chunk))
        self.cur.execute(
            f"INSERT INTO {self.table} (member, anime_id, score) "  # noqa: S608 - our own table
            "SELECT member, anime_id, score FROM ratings_in "
            "ON CONFLICT (member, anime_id) DO UPDATE SET score = EXCLUDED.score "
            f"WHERE {self.table}.score IS DISTINCT FROM EXCLUDED.score"
        )
        self.cur.execute("TRUNCATE ratings_in")

    def close(self) -> None:
        for name, definition in self.dropped_fk:
            self.cur.execute(f'ALTER TABLE {self.table} ADD CONSTRAINT "{name}" {definition}')
        # Dropped now, not only at commit: an enclosing transaction may import again.
        self.cur.execute("DROP TABLE ratings_in")


class _GenericWriter:
    BATCH = 5000

    def write(self, chunk: RatingsChunk) -> None:
        rows = np.column_stack([chunk.users, chunk.anime, chunk.scores.astype(np.int32)])
        for start in range(0, len(rows), self.BATCH):
            CommunityRating.objects.bulk_create(
                [
                    CommunityRating(member=int(u), anime_id=int(a), score=int(s))
                    for u, a, s in rows[start : start + self.BATCH]
                ],
                update_conflicts=True,
                unique_fields=["member", "anime"],
                update_fields=["score"],
            )

    def close(self) -> None:
        pass


def community_ratings_import(
    *,
    path: str | Path,
    skip_unknown_titles: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> RatingsImportResult:
    """Load a ratings file into CommunityRating, all or nothing; re-imports update scores.

    Titles missing from the catalog are an error (import the catalog first) unless
    ``skip_unknown_titles``, which drops and counts them. ``progress`` gets the rows
    written so far after each chunk.
    """
    path = _resolve(path)
    known = np.fromiter(Anime.objects.values_list("mal_id", flat=True), dtype=np.int64)
    known.sort()
    members = np.zeros(0, np.int32)
    titles = np.zeros(0, np.int32)
    rows = skipped = 0
    with transaction.atomic(), connection.cursor() as cur:
        writer = _PostgresWriter(cur) if connection.vendor == "postgresql" else _GenericWriter()
        for chunk in read_ratings_chunks(path, chunk_rows):
            unknown = ~np.isin(chunk.anime, known, assume_unique=False)
            if unknown.any():
                if not skip_unknown_titles:
                    ids = np.unique(chunk.anime[unknown])
                    line = chunk.first_line + int(np.flatnonzero(unknown)[0])
                    raise RatingsFileError(
                        f"{path}: line {line}: {len(ids)}+ title(s) are not in the catalog "
                        f"(e.g. {ids[:5].tolist()}); import the catalog first, or pass "
                        "--skip-unknown-titles."
                    )
                skipped += int(unknown.sum())
                keep = ~unknown
                chunk = RatingsChunk(
                    chunk.first_line, chunk.users[keep], chunk.anime[keep], chunk.scores[keep]
                )
            if len(chunk.users):
                writer.write(chunk)
            rows += len(chunk.users)
            members = np.union1d(members, chunk.users)
            titles = np.union1d(titles, chunk.anime)
            if progress:
                progress(rows)
        writer.close()
    return RatingsImportResult(
        rows=rows, members=len(members), titles=len(titles), skipped_unknown_titles=skipped
    )
