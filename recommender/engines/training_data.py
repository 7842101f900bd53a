"""Reads of the engines' training data: community ratings and members' lists, in compact
arrays rather than Python rows.

At MAL scale (45M community ratings) a list of Python tuples costs ~100 bytes a row
(4.5 GB); three int32/int32/int8 arrays cost 9 bytes a row (0.4 GB).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection, transaction

from accounts.selectors import list_training_rows
from recommender.models import CommunityRating

FETCH_ROWS = 100_000
ID_BLOCK = 1_000_000
# One row packed by the server: member int4, anime int4, score int2, big-endian.
_PACKED_ROW = np.dtype([("member", ">i4"), ("anime", ">i4"), ("score", ">i2")])
_ROW = np.dtype([("member", "<i4"), ("anime", "<i4"), ("score", "i1")])


@dataclass(frozen=True)
class InteractionArrays:
    """Parallel (n,) arrays: ``users`` int32 (data set member ids), ``anime`` int32 (MAL
    ids), ``scores`` int8 (1-10, or -1 for completed but not scored)."""

    users: np.ndarray
    anime: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.users)


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _from_rows(parts: list[np.ndarray]) -> InteractionArrays:
    return InteractionArrays(
        _concat([p["member"] for p in parts], np.int32),
        _concat([p["anime"] for p in parts], np.int32),
        _concat([p["score"] for p in parts], np.int8),
    )


def _read_postgres(id_block: int) -> InteractionArrays:
    """One query per range of ``id_block`` primary keys; the server packs each range into
    one bytea (10 bytes a row) that numpy reads in place.

    3x faster than a named cursor or a binary COPY, whose rows each cross into Python as
    an object or a message, and the client never holds more than one block of bytes.
    REPEATABLE READ: every range comes from the same snapshot (inside an enclosing
    transaction, that transaction's isolation holds).
    """
    table = CommunityRating._meta.db_table
    packed = (
        "SELECT string_agg(int4send(member) || int4send(anime_id) || int2send(score), "  # noqa: S608
        f"''::bytea) FROM {table} WHERE id >= %s AND id < %s"
    )
    parts: list[np.ndarray] = []
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cur:
        if outermost:  # only the transaction's first statement may set it
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute(f"SELECT min(id), max(id) FROM {table}")  # noqa: S608
        lo, hi = cur.fetchone()
        for start in range(lo or 0, (hi or -1) + 1, id_block):
            cur.execute(packed, [start, start + id_block])
            (buf,) = cur.fetchone()
            if buf:
                block = np.frombuffer(buf, dtype=_PACKED_ROW)
                compact = np.empty(len(block), dtype=_ROW)
                for name in ("member", "anime", "score"):
                    compact[name] = block[name]
                parts.append(compact)
    return _from_rows(parts)


def _read_generic(fetch_rows: int) -> InteractionArrays:
    """Other databases: ``fetchmany`` blocks turned into arrays one block at a time."""
    table = CommunityRating._meta.db_table
    parts: list[np.ndarray] = []
    with connection.cursor() as cur:
        cur.execute(f"SELECT member, anime_id, score FROM {table}")  # noqa: S608
        while rows := cur.fetchmany(fetch_rows):
            parts.append(np.array(rows, dtype=_ROW))
    return _from_rows(parts)


def community_interactions_arrays(
    *, fetch_rows: int = FETCH_ROWS, id_block: int = ID_BLOCK
) -> InteractionArrays:
    """Every community rating as compact arrays (unordered), read in bounded blocks.

    Peak memory is the result (9 bytes a row) plus one block, twice over while the
    blocks are concatenated.
    """
    if connection.vendor == "postgresql":
        return _read_postgres(id_block)
    return _read_generic(fetch_rows)


def interactions_frame() -> pd.DataFrame:
    """All training interactions as ``user_id, anime_id, rating``.

    The imported community ratings, plus every platform member's list
    (``accounts.selectors.list_training_rows``: scores, and completed-unscored as -1).
    Members live in their own id space, ``user_id = -user.pk``, which cannot collide with
    the data set's positive member ids. One row per user and title.
    """
    community = community_interactions_arrays()
    platform = np.array(list_training_rows(), dtype=np.int64).reshape(-1, 3)
    frame = pd.DataFrame(
        {
            "user_id": np.concatenate([community.users, platform[:, 0].astype(np.int32)]),
            "anime_id": np.concatenate([community.anime, platform[:, 1].astype(np.int32)]),
            "rating": np.concatenate([community.scores, platform[:, 2].astype(np.int8)]),
        },
        copy=False,
    )
    # Already one row per user and title: both tables are unique per pair and the two id
    # spaces are disjoint, so no de-duplication pass (a 45M-row sort) is needed.
    return frame
