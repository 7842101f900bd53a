"""Query parameters of the recommendations page and ``GET /api/me/recommendations/``.

One serializer for both, built on the catalog's (same names, same errors: a URL that
works in the browser works against the API and fails the same way).
"""

from __future__ import annotations

from rest_framework import serializers

from catalog.filters import AnimeSearchInputSerializer
from recommender.models import UserRecommendation
from recommender.personal.selectors import RecommendationFilters, personal_engine_names

MAX_LIMIT = 100
DEFAULT_LIMIT = 24


class RecommendationQueryInput(AnimeSearchInputSerializer):
    # The catalog's text search, studio, sort and pages do not apply to a ranked list.
    q = None
    studio = None
    sort = None
    page = None
    page_size = None

    engine = serializers.ChoiceField(
        choices=[],
        required=False,
        allow_blank=True,
        help_text="Whose ranking: blank for the default (the hybrid once served), or one "
        "engine's own list ('taste' is your taste model).",
    )
    section = serializers.ChoiceField(
        choices=UserRecommendation.Section.choices,
        required=False,
        default=UserRecommendation.Section.DISCOVER,
        help_text="'discover': titles new to you; 'plan_to_watch': your plan-to-watch list, "
        "best first.",
    )
    surprise = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Surprise me: leave out MAL's most popular titles.",
    )
    episodes_min = serializers.IntegerField(
        required=False, min_value=0, max_value=10000, help_text="At least this many episodes."
    )
    episodes_max = serializers.IntegerField(
        required=False, min_value=0, max_value=10000, help_text="At most this many episodes."
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_LIMIT,
        default=DEFAULT_LIMIT,
        help_text=f"Cards per page (1-{MAX_LIMIT}).",
    )
    offset = serializers.IntegerField(
        required=False, min_value=0, max_value=100000, default=0, help_text="Cards to skip."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The registry of engines decides the names, at request time (one home).
        self.fields["engine"].choices = personal_engine_names()

    def validate(self, attrs):
        lo, hi = attrs.get("episodes_min"), attrs.get("episodes_max")
        if lo is not None and hi is not None and lo > hi:
            raise serializers.ValidationError({"episodes_max": ["Must be at least episodes_min."]})
        return attrs

    def to_filters(self) -> RecommendationFilters:
        d = self.validated_data
        return RecommendationFilters(
            engine=d.get("engine", ""),
            section=d.get("section", UserRecommendation.Section.DISCOVER),
            media_type=d.get("type", ""),
            genres=tuple(d.get("genre", [])),
            season=d.get("season", ""),
            year=d.get("year"),
            status=d.get("status", ""),
            min_score=d.get("min_score"),
            episodes_min=d.get("episodes_min"),
            episodes_max=d.get("episodes_max"),
            surprise=d.get("surprise", False),
            limit=d.get("limit", DEFAULT_LIMIT),
            offset=d.get("offset", 0),
        )
