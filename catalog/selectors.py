"""Reads of the catalog, shared by the HTML pages and the REST API."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    Value,
    When,
)
from django.db.models.functions import Lower
from django.db.models.query import QuerySet

from .filters import AnimeSearchParams, Sort
from .models import Anime, Genre, Studio
from .search import RELEVANCE_ORDER, search_ranked

# Within a year, later seasons are newer.
_SEASON_ORDER = Case(
    *(When(start_season=s, then=Value(i)) for i, s in enumerate(Anime.Season.values, start=1)),
    default=Value(0),
    output_field=IntegerField(),
)

# Every ordering ends on the primary key so pages never repeat or skip rows between requests.
_ORDERINGS: dict[str, tuple] = {
    Sort.RELEVANCE: (  # without a query: the best titles first
        F("mean").desc(nulls_last=True),
        F("num_scoring_users").desc(nulls_last=True),
        "mal_id",
    ),
    Sort.SCORE: (
        F("mean").desc(nulls_last=True),
        F("num_scoring_users").desc(nulls_last=True),
        "mal_id",
    ),
    # MAL popularity is a rank (1 = most members); titles without it fall back to members.
    Sort.POPULARITY: (
        F("popularity").asc(nulls_last=True),
        F("num_list_users").desc(nulls_last=True),
        "mal_id",
    ),
    Sort.NEWEST: (
        F("start_year").desc(nulls_last=True),
        _SEASON_ORDER.desc(),
        F("start_date").desc(),
        "-mal_id",
    ),
    Sort.TITLE: (Lower("title"), "mal_id"),
}


def adult_visible(*, user=None) -> bool:
    """Whether ``user`` sees adult titles: the site's one adult-content rule.

    ``SHOW_ADULT_CONTENT`` is the ceiling: a visitor (None or anonymous) sees what it
    allows, a member only what it allows *and* their own setting asks for (off by
    default). Every page, API, queue and refresh asks here.
    """
    if not settings.SHOW_ADULT_CONTENT:
        return False
    if user is None or not user.is_authenticated:
        return True
    # The profile is accounts' (a layer above): read through the user's reverse accessor,
    # so the catalog imports nothing of it. No profile row yet means the defaults.
    try:
        return bool(user.profile.show_adult)
    except ObjectDoesNotExist:
        return False


def anime_visible(*, show_adult: bool | None = None) -> QuerySet[Anime]:
    """The titles people may see: the one adult-content rule of the site.

    Adult titles (``is_adult``: Hentai-tagged or Rx-rated) only when ``show_adult``,
    which defaults to the ``SHOW_ADULT_CONTENT`` setting (what a visitor sees); pass
    :func:`adult_visible` for a member.
    """
    if show_adult is None:
        show_adult = settings.SHOW_ADULT_CONTENT
    qs = Anime.objects.all()
    return qs if show_adult else qs.filter(is_adult=False)


def anime_hidden_ids(*, show_adult: bool | None = None) -> list[int]:
    """MAL ids that :func:`anime_visible` leaves out (for masking them in a ranking)."""
    if show_adult is None:
        show_adult = settings.SHOW_ADULT_CONTENT
    if show_adult:
        return []
    return list(Anime.objects.filter(is_adult=True).values_list("mal_id", flat=True))


def _with_relations(qs: QuerySet[Anime]) -> QuerySet[Anime]:
    # Two extra queries for any page size instead of two per title.
    return qs.prefetch_related(
        Prefetch("genres", queryset=Genre.objects.only("id", "name")),
        Prefetch("studios", queryset=Studio.objects.only("id", "name")),
    )


def anime_search(*, params: AnimeSearchParams, show_adult: bool) -> QuerySet[Anime]:
    """Filtered, ordered titles with genres and studios prefetched; the caller paginates."""
    qs = anime_visible(show_adult=show_adult)
    through = Anime.genres.through
    for name in params.genres:
        # One EXISTS per genre gives AND semantics without join fan-out or DISTINCT.
        qs = qs.filter(Exists(through.objects.filter(anime_id=OuterRef("pk"), genre__name=name)))
    if params.studio:
        qs = qs.filter(
            Exists(
                Anime.studios.through.objects.filter(
                    anime_id=OuterRef("pk"), studio__name=params.studio
                )
            )
        )
    if params.media_type:
        qs = qs.filter(media_type=params.media_type)
    if params.season:
        qs = qs.filter(start_season=params.season)
    if params.year is not None:
        qs = qs.filter(start_year=params.year)
    if params.status:
        qs = qs.filter(status=params.status)
    if params.min_score is not None:
        qs = qs.filter(mean__gte=params.min_score)
    if params.q:
        # After the other filters: the SQLite typo fallback only scores what they leave.
        qs = search_ranked(qs, params.q)
        if params.sort == Sort.RELEVANCE:
            return _with_relations(qs.order_by(*RELEVANCE_ORDER))
    return _with_relations(qs.order_by(*_ORDERINGS[params.sort]))


def anime_get(*, mal_id: int, show_adult: bool) -> Anime | None:
    """One title with genres and studios, or None if unknown or hidden as adult content."""
    return _with_relations(anime_visible(show_adult=show_adult).filter(mal_id=mal_id)).first()


def genre_list(*, show_adult: bool) -> QuerySet[Genre]:
    """Genres that have at least one visible title, by name, annotated with ``anime_count``."""
    visible = Q() if show_adult else Q(anime__is_adult=False)
    return (
        Genre.objects.annotate(anime_count=Count("anime", filter=visible))
        .filter(anime_count__gt=0)
        .order_by("name")
    )


def anime_year_list(*, show_adult: bool) -> list[int]:
    """Premiere years present in the catalog, newest first."""
    return list(
        anime_visible(show_adult=show_adult)
        .filter(start_year__isnull=False)
        .order_by("-start_year")
        .values_list("start_year", flat=True)
        .distinct()
    )


@dataclass(frozen=True)
class FilterOptions:
    """(value, label) of the media types, statuses and seasons some visible title has,
    each in its choices' order: a filter never offers a value that finds nothing."""

    media_types: list[tuple[str, str]]
    statuses: list[tuple[str, str]]
    seasons: list[tuple[str, str]]


def anime_filter_options(*, show_adult: bool) -> FilterOptions:
    """The three choice filters of the browse page, from one query."""
    combos = set(
        anime_visible(show_adult=show_adult)
        .order_by()
        .values_list("media_type", "status", "start_season")
        .distinct()
    )
    present = [{c[i] for c in combos} - {""} for i in range(3)]
    return FilterOptions(
        *(
            [(v, label) for v, label in choices if v in values]
            for choices, values in zip(
                (Anime.MediaType.choices, Anime.Status.choices, Anime.Season.choices),
                present,
                strict=True,
            )
        )
    )
