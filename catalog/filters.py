"""The one definition of the catalog's search parameters, shared by the pages and the API.

Both interfaces validate ``request.GET`` with :class:`AnimeSearchInputSerializer` and hand the
resulting :class:`AnimeSearchParams` to ``selectors.anime_search``, so a URL that works in the
browser works against the API and fails the same way (400 naming the parameter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.conf import settings
from rest_framework import serializers

from .models import Anime, Genre, Studio

DEFAULT_PAGE_SIZE: int = settings.REST_FRAMEWORK["PAGE_SIZE"]
MAX_PAGE_SIZE = 100
# Each genre adds one EXISTS subquery; a cap keeps a hand-made URL from building a huge query.
MAX_GENRES = 10


class Sort:
    RELEVANCE = "relevance"
    SCORE = "score"
    POPULARITY = "popularity"
    NEWEST = "newest"
    TITLE = "title"
    CHOICES = [
        (RELEVANCE, "Best match"),
        (SCORE, "Highest score"),
        (POPULARITY, "Most popular"),
        (NEWEST, "Newest"),
        (TITLE, "Title A-Z"),
    ]


@dataclass(frozen=True)
class AnimeSearchParams:
    q: str = ""
    genres: tuple[str, ...] = ()
    studio: str = ""
    media_type: str = ""
    season: str = ""
    year: int | None = None
    status: str = ""
    min_score: float | None = None
    sort: str = Sort.SCORE
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    # Which optional filters are set, for "clear filters" and page headings.
    active: frozenset[str] = field(default_factory=frozenset)


class AnimeSearchInputSerializer(serializers.Serializer):
    """Query parameters of the browse page and ``GET /api/anime/``.

    Blank values (an untouched ``<select>`` submits ``type=``) mean "not set" on both.
    """

    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        trim_whitespace=True,
        help_text="Search every title (romaji, English, Japanese, synonyms), ignoring case, "
        "accents and punctuation, with small typos forgiven. Best matches first (exact "
        "name, then prefix/words, then substrings, then near misses), by popularity.",
    )
    genre = serializers.ListField(
        child=serializers.CharField(max_length=100, allow_blank=True),
        required=False,
        max_length=MAX_GENRES,
        help_text="Genre name, repeatable (?genre=Action&genre=Comedy); a title must have all.",
    )
    studio = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Studio name (case-insensitive), e.g. Sunrise.",
    )
    type = serializers.ChoiceField(
        choices=Anime.MediaType.choices,
        required=False,
        allow_blank=True,
        help_text="Media type.",
    )
    season = serializers.ChoiceField(
        choices=Anime.Season.choices,
        required=False,
        allow_blank=True,
        help_text="Premiere season.",
    )
    year = serializers.IntegerField(
        required=False,
        min_value=1900,
        max_value=2100,
        help_text="Premiere year.",
    )
    status = serializers.ChoiceField(
        choices=Anime.Status.choices,
        required=False,
        allow_blank=True,
        help_text="Airing status.",
    )
    min_score = serializers.FloatField(
        required=False,
        min_value=0,
        max_value=10,
        help_text="Minimum MAL mean score (0-10).",
    )
    sort = serializers.ChoiceField(
        choices=Sort.CHOICES,
        required=False,
        allow_blank=True,
        default="",
        help_text="Order; titles without the sort value come last. Default: best match "
        "when searching (q), else highest score.",
    )
    page = serializers.IntegerField(
        required=False, min_value=1, default=1, help_text="Page number, from 1."
    )
    page_size = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_PAGE_SIZE,
        default=DEFAULT_PAGE_SIZE,
        help_text=f"Results per page (1-{MAX_PAGE_SIZE}).",
    )

    def validate_min_score(self, value: float) -> float:
        # float("nan") passes both range checks, so reject non-finite values explicitly.
        if not math.isfinite(value):
            raise serializers.ValidationError("A finite number is required.")
        return value

    def validate_genre(self, value: list[str]) -> list[str]:
        wanted = [v.strip() for v in value if v.strip()]
        if not wanted:
            return []
        # Genres are a small table (~50 rows): one query maps any casing to the stored name.
        known = {n.lower(): n for n in Genre.objects.values_list("name", flat=True)}
        unknown = [w for w in wanted if w.lower() not in known]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown genre: {', '.join(unknown)}."
                if len(unknown) == 1
                else f"Unknown genres: {', '.join(unknown)}."
            )
        return list(dict.fromkeys(known[w.lower()] for w in wanted))

    def validate_studio(self, value: str) -> str:
        value = value.strip()
        if not value:
            return ""
        name = Studio.objects.filter(name__iexact=value).values_list("name", flat=True).first()
        if name is None:
            raise serializers.ValidationError(f"Unknown studio: {value}.")
        return name

    def to_params(self) -> AnimeSearchParams:
        data = self.validated_data
        values = {
            "q": data.get("q", ""),
            "genres": tuple(data.get("genre", [])),
            "studio": data.get("studio", ""),
            "media_type": data.get("type", ""),
            "season": data.get("season", ""),
            "year": data.get("year"),
            "status": data.get("status", ""),
            "min_score": data.get("min_score"),
        }
        active = frozenset(k for k, v in values.items() if v not in ("", (), None))
        return AnimeSearchParams(
            **values,
            sort=data.get("sort") or (Sort.RELEVANCE if values["q"] else Sort.SCORE),
            page=data.get("page", 1),
            page_size=data.get("page_size", DEFAULT_PAGE_SIZE),
            active=active,
        )
