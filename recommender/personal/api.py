"""``GET /api/me/recommendations/``: the member's stored recommendations, with reasons.

Owner-only (:class:`accounts.api_access.MeApi`): token or session, 401 for anonymous
callers, throttled per member. Reads stored rows only; a refresh runs in the background.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response

from accounts.api_access import MeApi
from animender.api_runs import RunAttemptsOutput
from recommender.models import RecommendationRefresh, UserRecommendation
from recommender.personal import selectors
from recommender.personal.filters import RecommendationQueryInput
from recommender.personal.reasons import KINDS, reason_text
from recommender.personal.services import REFRESHES


@extend_schema_serializer(component_name="ReasonTitle")
class ReasonTitleOutput(serializers.Serializer):
    mal_id = serializers.IntegerField()
    title = serializers.CharField()


@extend_schema_serializer(component_name="RecommendationReason")
class ReasonOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=KINDS)
    text = serializers.SerializerMethodField()
    titles = ReasonTitleOutput(many=True, required=False, help_text="kind 'liked'")
    features = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="kind 'taste'"
    )

    def get_text(self, obj: dict) -> str:
        return reason_text(obj)


@extend_schema_serializer(component_name="MyRecommendation")
class RecommendationOutput(serializers.Serializer):
    rank = serializers.IntegerField()
    mal_id = serializers.IntegerField(source="anime.mal_id")
    title = serializers.CharField(source="anime.title")
    picture = serializers.CharField(source="anime.picture_medium")
    media_type = serializers.CharField(source="anime.media_type")
    start_year = serializers.IntegerField(source="anime.start_year", allow_null=True)
    num_episodes = serializers.IntegerField(source="anime.num_episodes", allow_null=True)
    mean = serializers.FloatField(source="anime.mean", allow_null=True)
    score = serializers.FloatField(allow_null=True, help_text="The engine's ranking score.")
    predicted_score = serializers.FloatField(
        allow_null=True, help_text="Your predicted score, 1-10 (item-KNN estimate)."
    )
    match = serializers.FloatField(
        allow_null=True, help_text="Your taste model's probability that you like it, 0-1."
    )
    franchise_size = serializers.IntegerField()
    entry_point = serializers.BooleanField(
        help_text="The engine ranked a later entry; this is where its series starts."
    )
    reason = serializers.SerializerMethodField(help_text="The strongest reason, in words.")
    reasons = ReasonOutput(many=True)

    def get_reason(self, obj: UserRecommendation) -> str:
        texts = [reason_text(r) for r in obj.reasons]
        return next((t for t in texts if t), "")


@extend_schema_serializer(component_name="EngineTab")
class EngineTabOutput(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


@extend_schema_serializer(component_name="RecommendationRefresh")
class RefreshOutput(RunAttemptsOutput, serializers.ModelSerializer):
    # "status" is the key clients know; the row calls it state (animender.runs).
    status = serializers.CharField(source="state", read_only=True)
    run_kind = REFRESHES

    class Meta:
        model = RecommendationRefresh
        fields = [
            "status",
            "attempts",
            "max_attempts",
            "error",
            "trigger",
            "requested_at",
            "finished_at",
        ]


EXAMPLE = {
    "engine": "watchlist_nn",
    "engines": [
        {"name": "watchlist_nn", "label": "Neural watch-list model", "count": 300},
        {"name": "knn_baseline", "label": "Item KNN with baseline", "count": 300},
    ],
    "section": "discover",
    "cold_start": False,
    "refresh": {
        "status": "done",
        "attempts": 1,
        "max_attempts": 3,
        "error": "",
        "trigger": "list",
        "requested_at": "2026-11-22T10:00:00Z",
        "finished_at": "2026-11-22T10:00:04Z",
    },
    "count": 287,
    "next_offset": 1,
    "results": [
        {
            "rank": 1,
            "mal_id": 9253,
            "title": "Steins;Gate",
            "picture": "https://cdn.myanimelist.net/images/anime/1935/127974.jpg",
            "media_type": "tv",
            "start_year": 2011,
            "num_episodes": 24,
            "mean": 9.07,
            "score": -6.21,
            "predicted_score": 8.9,
            "match": 0.91,
            "franchise_size": 6,
            "entry_point": False,
            "reason": "Because you liked Cowboy Bebop and Fullmetal Alchemist: Brotherhood",
            "reasons": [
                {
                    "kind": "liked",
                    "text": "Because you liked Cowboy Bebop and Fullmetal Alchemist: Brotherhood",
                    "titles": [
                        {"mal_id": 1, "title": "Cowboy Bebop"},
                        {"mal_id": 5114, "title": "Fullmetal Alchemist: Brotherhood"},
                    ],
                },
                {
                    "kind": "taste",
                    "text": "Matches your taste for Sci-Fi and Psychological",
                    "features": ["Sci-Fi", "Psychological"],
                },
            ],
        }
    ],
}


class UserRecommendationListApi(MeApi):
    @extend_schema_serializer(component_name="MyRecommendations")
    class OutputSerializer(serializers.Serializer):
        engine = serializers.CharField(allow_null=True)
        engines = EngineTabOutput(many=True)
        section = serializers.CharField()
        cold_start = serializers.BooleanField(
            help_text="True while nothing is stored for you (no list and no labels yet, or a "
            "first refresh still on its way, see refresh): results are popular titles to rate "
            "first, as on the page (import your MAL list or label ten titles)."
        )
        refresh = RefreshOutput(allow_null=True)
        count = serializers.IntegerField()
        next_offset = serializers.IntegerField(allow_null=True)
        results = RecommendationOutput(many=True)

    @extend_schema(
        parameters=[RecommendationQueryInput],
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="A parameter is invalid; keys name it."),
            401: OpenApiResponse(description="Not signed in."),
        },
        summary="My recommendations, with reasons and scores",
        examples=[
            OpenApiExample("Recommendations", value=EXAMPLE, response_only=True),
            OpenApiExample(
                "New member",
                value={
                    **EXAMPLE,
                    "engine": None,
                    "engines": [],
                    "cold_start": True,
                    "refresh": None,
                    "count": 1,
                    "next_offset": None,
                    "results": [
                        {
                            **EXAMPLE["results"][0],
                            "score": None,
                            "predicted_score": None,
                            "match": None,
                            "reason": "Popular with everyone",
                            "reasons": [
                                {
                                    "kind": "popular",
                                    "text": "Popular with everyone",
                                }
                            ],
                        }
                    ],
                },
                response_only=True,
            ),
        ],
    )
    def get(self, request):
        params = RecommendationQueryInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.to_filters()
        user = request.user
        tabs = selectors.engine_tabs(user=user)
        cold = selectors.recommendations_cold_start(tabs=tabs)
        if cold:
            page = selectors.popular_start_page(
                user=user, limit=filters.limit, offset=filters.offset
            )
        else:
            page = selectors.user_recommendation_list(user=user, filters=filters)
        rows, engine, count, next_offset = page.rows, page.engine, page.total, page.next_offset
        data = {
            "engine": engine or None,
            "engines": [t.__dict__ for t in tabs],
            "section": filters.section,
            "cold_start": cold,
            "refresh": selectors.refresh_state_get(user=user),
            "count": count,
            "next_offset": next_offset,
            "results": rows,
        }
        return Response(self.OutputSerializer(data).data)
