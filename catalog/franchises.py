"""Franchises: which titles belong together, which one to start with, one card per franchise.

Titles are grouped by MAL's ``related_anime`` (synced by :mod:`catalog.relations_sync`);
a title whose relations were never fetched (a catalog imported from CSV) is grouped by its
normalised title instead ("Bakuman. 3rd Season" -> "bakuman", "Steins;Gate Movie: ..." ->
"steins gate"). The grouping and :func:`franchise_collapse` are plain Python over ids, so
the recommendation and similar-title paths (and tests) call them without the ORM;
:func:`franchise_index` builds the index from the database and keeps it per process.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

# Edges that make two titles one story. Not "character" or "other" (cameos, crossovers,
# shared characters) and not "spin_off" / "alternative_setting": those stand on their own.
FRANCHISE_RELATIONS = frozenset(
    {
        "sequel",
        "prequel",
        "parent_story",
        "side_story",
        "summary",
        "full_story",
        "alternative_version",
    }
)
# A title with one of these edges inside its franchise is not where the story starts.
_NOT_AN_ENTRY = frozenset({"prequel", "parent_story", "full_story"})

# Where a viewer starts: a TV series before a web series, OVA or film; specials, recaps and
# music videos last. Unknown types (CSV rows without a type) rank with web series.
_MEDIA_RANK = {"tv": 0, "ona": 1, "": 1, "unknown": 1, "ova": 2, "movie": 3}
_OTHER_MEDIA_RANK = 4
# Types that continue a story; "next up" after a watched entry point is one of these.
MAIN_MEDIA = frozenset({"tv", "ona", "ova", "movie", "", "unknown"})

_ORDINALS = (
    r"\d+(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|final"
)
# Suffixes that name another part of the same series; stripped repeatedly from the end.
_SUFFIX = re.compile(
    rf"""\s+(?:
        (?:{_ORDINALS})\s+(?:season|series|stage|part|cour)
      | (?:season|series|stage|part|cour|vol|volume|chapter)\s*\d+
      | (?:the\s+)?movie(?:\s*\d+)?
      | gekijouban | specials? | ova | oad | oav | ona | tv | recap | picture\s+drama
      | (?:ii|iii|iv|v|vi|\d{{1,2}})
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_PREFIX = re.compile(r"^(?:gekijouban|gekijou-ban|eiga|movie)\s+", re.IGNORECASE)
# A subtitle starts at ": " or " - " (a colon inside a word, as in "Re:Zero", does not).
_SUBTITLE = re.compile(r"\s*(?::\s|\s[-–—]\s).*$")
_NON_WORD = re.compile(r"[^0-9a-z]+")
# Shorter keys ("k", "ef") are too ambiguous to merge unrelated rows on.
MIN_KEY_LENGTH = 3


def title_key(title: str) -> str:
    """The series name of a title: subtitles and season/movie/special suffixes removed,
    accents folded, punctuation collapsed, lower case."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    text = _SUBTITLE.sub("", text.strip())
    text = _PREFIX.sub("", text)
    # "(2011)" marks a remake, its own series; "(TV)", "(Movie)" only say what this part is.
    text = re.sub(r"\((?!(?:19|20)\d\d\))[^)]*\)", " ", text)
    text = _NON_WORD.sub(" ", text.lower()).strip()
    previous = None
    while previous != text:
        previous = text
        text = _SUFFIX.sub("", text).strip()
    return text


@dataclass(frozen=True)
class TitleFacts:
    """What the grouping needs to know about one title."""

    mal_id: int
    title: str
    media_type: str = ""
    start_date: str = ""  # MAL's possibly partial "YYYY[-MM[-DD]]"
    start_year: int | None = None
    members: int | None = None
    relations_synced: bool = False


@dataclass
class FranchiseIndex:
    """Titles grouped into franchises. A title not in the index is its own franchise."""

    franchise_of: dict[int, int] = field(default_factory=dict)  # mal_id -> franchise id
    members_of: dict[int, tuple[int, ...]] = field(default_factory=dict)  # entry point first
    media_type: dict[int, str] = field(default_factory=dict)  # every indexed title
    # Titles left out because they are hidden (adult); a title neither indexed nor hidden
    # is newer than the index and stands alone until the next rebuild.
    hidden: frozenset[int] = frozenset()

    def members(self, mal_id: int) -> tuple[int, ...]:
        return self.members_of.get(self.franchise_of.get(mal_id, -1), (mal_id,))

    def entry_point(self, mal_id: int) -> int:
        return self.members(mal_id)[0]

    def franchise_id(self, mal_id: int) -> int:
        return self.franchise_of.get(mal_id, mal_id)


def _start_key(t: TitleFacts) -> tuple:
    # Dates first when known; MAL ids grow with the date an entry was added, so they order
    # undated rows (most CSV films and specials) close to their real release order.
    if t.start_date:
        return (t.start_date[:10], t.mal_id)
    if t.start_year:
        return (f"{t.start_year:04d}", t.mal_id)
    return ("9999", t.mal_id)


def franchise_index_build(
    titles: Iterable[TitleFacts], relations: Iterable[tuple[int, int, str]]
) -> FranchiseIndex:
    """Group ``titles`` by ``relations`` ``(anime, related, relation_type)`` and, for titles
    whose relations were never synced, by :func:`title_key`."""
    facts = {t.mal_id: t for t in titles}
    parent = {m: m for m in facts}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    not_entry: set[int] = set()
    for anime, related, kind in relations:
        if kind not in FRANCHISE_RELATIONS or anime not in facts or related not in facts:
            continue
        union(anime, related)
        if kind in _NOT_AN_ENTRY:
            not_entry.add(anime)
    by_key: dict[str, list[int]] = {}
    for t in facts.values():
        key = title_key(t.title)
        if len(key) >= MIN_KEY_LENGTH:
            by_key.setdefault(key, []).append(t.mal_id)
    for ids in by_key.values():
        unsynced = [m for m in ids if not facts[m].relations_synced]
        if not unsynced or len(ids) < 2:
            continue
        # Synced titles are never merged with each other by name (MAL said how they relate);
        # unsynced ones join the first title of the name, synced or not.
        anchor = min(ids, key=lambda m: _start_key(facts[m]))
        for m in unsynced:
            union(anchor, m)

    groups: dict[int, list[int]] = {}
    for m in facts:
        groups.setdefault(find(m), []).append(m)
    index = FranchiseIndex(media_type={m: t.media_type for m, t in facts.items()})
    for ids in groups.values():
        if len(ids) == 1:
            continue  # singletons are implicit: members() answers (mal_id,)

        def entry_rank(m: int) -> tuple:
            t = facts[m]
            rank = _MEDIA_RANK.get(t.media_type, _OTHER_MEDIA_RANK)
            if t.relations_synced:
                # Alternative versions both start the story: the one most people watched.
                return (m in not_entry, rank, -(t.members or 0), _start_key(t))
            return (m in not_entry, rank, _start_key(t))

        entry = min(ids, key=entry_rank)
        rest = sorted((m for m in ids if m != entry), key=lambda m: _start_key(facts[m]))
        ordered = (entry, *rest)
        for m in ordered:
            index.franchise_of[m] = entry
        index.members_of[entry] = ordered
    return index


@dataclass(frozen=True)
class FranchiseCard:
    """One franchise in a ranked list.

    ``mal_id`` is what to show: the best-ranked candidate when the user may watch it now,
    else the franchise's entry point (or, when that is watched, the next unwatched entry).
    ``candidates`` are the ranked titles of the franchise this card stands for, best first.
    """

    mal_id: int
    score: float
    franchise_id: int
    franchise_size: int
    candidates: tuple[int, ...]

    @property
    def replaced(self) -> bool:
        """True when the engine's pick was swapped for where the franchise starts."""
        return self.mal_id != self.candidates[0]


def _next_up(
    members: Sequence[int], blocked: Collection[int], media_type: dict[int, str]
) -> int | None:
    """The first entry (in franchise order) not yet watched that continues the story."""
    for m in members:
        if m not in blocked and media_type.get(m, "") in MAIN_MEDIA:
            return m
    return None


def franchise_collapse(
    ranked: Iterable[tuple[int, float]],
    *,
    watched: Collection[int],
    index: FranchiseIndex,
    exclude: Collection[int] = (),
    limit: int | None = None,
) -> list[FranchiseCard]:
    """One card per franchise from ``ranked`` ``(mal_id, score)`` pairs, best first.

    A sequel, film or special of a franchise whose entry point the user has not watched is
    replaced by the entry point; once the entry point is watched, the franchise's card is
    the next unwatched entry (in story order). Nothing in ``watched`` or ``exclude`` (listed,
    labeled, not interested) is ever a card; a franchise whose entry point is excluded is
    dropped, because the user said no to its start.
    """
    watched = set(watched)
    blocked = watched | set(exclude)
    cards: dict[int, list] = {}
    order: list[int] = []
    for mal_id, score in ranked:
        fid = index.franchise_id(mal_id)
        if fid in cards:
            if cards[fid] is not None:
                cards[fid][2].append(mal_id)
            continue
        members = index.members(mal_id)
        entry = members[0]
        if entry in watched:
            show = _next_up(members, blocked, index.media_type)
            if show is None and mal_id not in blocked:
                show = mal_id  # the story is watched; an extra (special, recap) may still be
        elif entry in blocked:
            show = None
        else:
            show = entry
        if show is None:
            cards[fid] = None  # nothing left to offer from this franchise
            continue
        cards[fid] = [show, float(score), [mal_id]]
        order.append(fid)
        if limit is not None and len(order) >= limit:
            break
    result = []
    for fid in order:
        show, score, candidates = cards[fid]
        result.append(
            FranchiseCard(
                mal_id=show,
                score=score,
                franchise_id=fid,
                franchise_size=len(index.members(show)),
                candidates=tuple(candidates),
            )
        )
    return result


# -- the index of the catalog, per process -----------------------------------------------

# The index changes only when the catalog or its relations change (syncs, imports); an
# index a few minutes old is fine, and rebuilding per request would scan the catalog.
INDEX_TTL_SECONDS = 300.0
# One index per adult visibility: visitors and members may see different catalogs, and a
# single slot would be rebuilt each time the two alternate.
_cached: dict[bool, tuple[float, FranchiseIndex]] = {}
_lock = threading.Lock()


def franchise_index(*, show_adult: bool) -> FranchiseIndex:
    """The catalog's franchises (visible titles only), rebuilt at most every few minutes."""
    now = time.monotonic()
    cached = _cached.get(show_adult)
    if cached and now - cached[0] < INDEX_TTL_SECONDS:
        return cached[1]
    with _lock:
        cached = _cached.get(show_adult)
        if cached and now - cached[0] < INDEX_TTL_SECONDS:
            return cached[1]
        index = _build_from_db(show_adult=show_adult)
        _cached[show_adult] = (time.monotonic(), index)
        return index


def franchise_index_invalidate() -> None:
    """Forget this process's indexes (after a relation sync or an import)."""
    _cached.clear()


def _build_from_db(*, show_adult: bool) -> FranchiseIndex:
    from .models import Anime, AnimeRelation

    qs = Anime.objects.all() if show_adult else Anime.objects.filter(is_adult=False)
    rows = qs.values_list(
        "mal_id",
        "title",
        "media_type",
        "start_date",
        "start_year",
        "num_list_users",
        "relations_synced_at",
    )
    titles = [
        TitleFacts(m, t, mt or "", sd or "", sy, nm, synced is not None)
        for m, t, mt, sd, sy, nm, synced in rows.iterator(chunk_size=5000)
    ]
    hidden = (
        frozenset()
        if show_adult
        else frozenset(Anime.objects.filter(is_adult=True).values_list("mal_id", flat=True))
    )
    relations = AnimeRelation.objects.filter(relation_type__in=FRANCHISE_RELATIONS).values_list(
        "anime_id", "related_id", "relation_type"
    )
    index = franchise_index_build(titles, relations.iterator(chunk_size=5000))
    index.hidden = hidden
    return index
