"""Reads of members' profiles, lists, imports and tokens. Every read is scoped to one user."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Avg, Count, F, Q, QuerySet, Sum
from django.db.models.functions import Lower

from catalog.models import Anime, Genre
from recommender.ml.preferences import UNSCORED

from .models import ApiToken, ImportRun, ListEntry, Profile

_IN_CHUNK = 900  # SQLite caps the number of bound parameters in one IN (...)


# Platform members and community data-set members share the engines' user axis. Community
# ids are positive (CommunityRating.member is a PositiveIntegerField), so member ``pk`` maps
# to ``-pk``: a separate id space that can never collide, and is easy to tell apart.
def platform_user_key(user_id: int) -> int:
    return -int(user_id)


class ListSort:
    UPDATED = "updated"
    SCORE = "score"
    TITLE = "title"
    MEAN = "mean"
    CHOICES = [
        (UPDATED, "Last updated"),
        (SCORE, "My score"),
        (TITLE, "Title"),
        (MEAN, "MAL score"),
    ]


_LIST_ORDERINGS = {
    ListSort.UPDATED: (F("updated_at").desc(), "anime_id"),
    ListSort.SCORE: (F("score").desc(nulls_last=True), Lower("anime__title"), "anime_id"),
    ListSort.TITLE: (Lower("anime__title"), "anime_id"),
    ListSort.MEAN: (F("anime__mean").desc(nulls_last=True), "anime_id"),
}
NOT_INTERESTED_TAB = "not_interested"
# What a list can be filtered on: a status, or the titles marked not interested.
LIST_TABS = [*ListEntry.Status.values, NOT_INTERESTED_TAB]


def profile_get(*, user) -> Profile:
    """The member's profile, or an unsaved one with the defaults (no write on a read)."""
    try:
        return user.profile
    except Profile.DoesNotExist:
        return Profile(user=user)


def list_entry_queryset(
    *,
    user,
    tab: str = "",
    q: str = "",
    genre: str = "",
    sort: str = ListSort.UPDATED,
    show_adult: bool = True,
) -> QuerySet[ListEntry]:
    """One member's entries, filtered and ordered; ``tab`` is a status, "not_interested", or
    "" for every entry on the list (not-interested-only rows are not list entries)."""
    qs = ListEntry.objects.filter(user=user).select_related("anime")
    if tab == NOT_INTERESTED_TAB:
        qs = qs.filter(not_interested=True)
    elif tab:
        qs = qs.filter(status=tab)
    else:
        qs = qs.exclude(status="")
    if not show_adult:
        qs = qs.filter(anime__is_adult=False)
    for term in q.lower().split():
        qs = qs.filter(anime__search_text__contains=term)
    if genre:
        qs = qs.filter(anime__genres__name=genre)
    return qs.order_by(*_LIST_ORDERINGS.get(sort, _LIST_ORDERINGS[ListSort.UPDATED]))


def list_entry_get(*, user, mal_id: int) -> ListEntry | None:
    return ListEntry.objects.filter(user=user, anime_id=mal_id).select_related("anime").first()


def list_entry_states(
    *, user, mal_ids: Iterable[int]
) -> dict[int, tuple[str, int | None, int, bool]]:
    """``{anime_id: (status, score, episodes_watched, not_interested)}`` for the titles of
    ``mal_ids`` the member listed: one narrow query for a page's cards, reading only their
    rows however long the member's list is."""
    ids = sorted(set(mal_ids))
    states: dict[int, tuple[str, int | None, int, bool]] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        rows = ListEntry.objects.filter(user=user, anime_id__in=ids[i : i + _IN_CHUNK])
        for a, s, sc, ep, ni in rows.values_list(
            "anime_id", "status", "score", "episodes_watched", "not_interested"
        ):
            states[a] = (s, sc, ep, ni)
    return states


def list_tab_counts(*, user, show_adult: bool = True) -> dict[str, int]:
    qs = ListEntry.objects.filter(user=user)
    if not show_adult:
        qs = qs.filter(anime__is_adult=False)
    counts = dict(qs.exclude(status="").values_list("status").annotate(n=Count("pk")))
    out = {"": sum(counts.values())}
    out.update({s: counts.get(s, 0) for s in ListEntry.Status.values})
    out[NOT_INTERESTED_TAB] = qs.filter(not_interested=True).count()
    return out


@dataclass
class ListStats:
    entries: int
    scored: int
    mean_score: float | None
    episodes: int
    score_bars: list[dict]  # [{"score": 1..10, "count": n, "pct": 0-100 of the tallest}]
    genres: list[dict]  # [{"name", "count", "mean_score", "pct"}]
    hidden_adult: int


def list_stats(*, user, show_adult: bool = True, top_genres: int = 10) -> ListStats:
    """Score distribution and genre breakdown of one member's list (statuses set only)."""
    base = ListEntry.objects.filter(user=user).exclude(status="")
    hidden = 0 if show_adult else base.filter(anime__is_adult=True).count()
    if not show_adult:
        base = base.filter(anime__is_adult=False)
    agg = base.aggregate(
        n=Count("pk"),
        scored=Count("score"),
        mean=Avg("score"),
        episodes=Sum("episodes_watched"),
    )
    hist = dict(base.filter(score__isnull=False).values_list("score").annotate(n=Count("pk")))
    tallest = max(hist.values(), default=0)
    bars = [
        {
            "score": s,
            "count": hist.get(s, 0),
            "pct": round(100 * hist.get(s, 0) / tallest) if tallest else 0,
        }
        for s in range(1, 11)
    ]
    genre_rows = (
        Genre.objects.filter(
            anime__in=Anime.objects.filter(mal_id__in=base.values("anime_id")),
        )
        .annotate(
            n=Count("anime", distinct=True),
        )
        .order_by("-n", "name")[:top_genres]
    )
    genre_rows = list(genre_rows)
    means = dict(
        base.filter(anime__genres__in=genre_rows, score__isnull=False)
        .values_list("anime__genres__name")
        .annotate(m=Avg("score"))
    )
    widest = max((g.n for g in genre_rows), default=0)
    genres = [
        {
            "name": g.name,
            "count": g.n,
            "mean_score": means.get(g.name),
            "pct": round(100 * g.n / widest) if widest else 0,
        }
        for g in genre_rows
    ]
    return ListStats(
        entries=agg["n"] or 0,
        scored=agg["scored"] or 0,
        mean_score=agg["mean"],
        episodes=agg["episodes"] or 0,
        score_bars=bars,
        genres=genres,
        hidden_adult=hidden,
    )


def list_training_rows() -> list[tuple[int, int, int]]:
    """Every member's list as engine interactions ``(user_key, anime_id, rating)``.

    A score is a rating; completed without a score is the shared data's -1 (an implicit
    positive). Unscored watching/on-hold/dropped/plan-to-watch rows say nothing about taste,
    and "not interested" rows are kept out of training. ``user_key`` is
    :func:`platform_user_key`.
    """
    rows = (
        ListEntry.objects.filter(not_interested=False)
        .filter(Q(score__isnull=False) | Q(status=ListEntry.Status.COMPLETED))
        .values_list("user_id", "anime_id", "score")
        .order_by()
    )
    return [
        (platform_user_key(u), a, s if s is not None else UNSCORED) for u, a, s in rows.iterator()
    ]


def import_run_list(*, user) -> QuerySet[ImportRun]:
    return ImportRun.objects.filter(user=user).defer("upload")  # up to an upload's size


def import_run_get(*, user, run_id: int) -> ImportRun | None:
    return import_run_list(user=user).filter(pk=run_id).first()


def api_token_list(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def api_token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_get_by_key(*, key: str) -> ApiToken | None:
    return ApiToken.objects.filter(key_hash=api_token_hash(key)).select_related("user").first()
