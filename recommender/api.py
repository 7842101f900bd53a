"""REST API of the global engines: status, recommendations for any list, training runs."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.selectors import anime_get

from .evaluation_runs import engine_status_list
from .models import Engine, TrainingRun
from .services import NoModelError, recommendations_for_entries, training_run_enqueue
from .similar import similar_titles_get

MAX_ENTRIES = 5000


@extend_schema_serializer(component_name="TrainingRun")
class TrainingRunOutput(serializers.ModelSerializer):
    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "engine",
            "state",
            "trigger",
            "version",
            "metrics",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


@extend_schema_serializer(component_name="RecommendedTitle")
class RecommendedItemOutput(serializers.Serializer):
    mal_id = serializers.IntegerField(source="anime.mal_id")
    title = serializers.CharField(source="anime.title")
    picture = serializers.CharField(source="anime.picture_url")
    mean = serializers.FloatField(source="anime.mean", allow_null=True)
    score = serializers.FloatField()
    franchise_size = serializers.IntegerField(help_text="Titles in its franchise.")
    entry_point = serializers.BooleanField(
        help_text="True when the engine ranked a later entry of this franchise and this "
        "title, where the story starts, is shown instead."
    )


class EngineListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="EngineStatus")
    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        label = serializers.CharField()
        version = serializers.CharField(allow_null=True)
        last_run = TrainingRunOutput(allow_null=True)

    @extend_schema(responses=OutputSerializer(many=True), summary="Engines and their versions")
    def get(self, request):
        return Response(self.OutputSerializer(engine_status_list(), many=True).data)


@extend_schema_serializer(component_name="WatchedEntry")
class WatchedEntrySchema(serializers.Serializer):
    mal_id = serializers.IntegerField(min_value=1)
    score = serializers.IntegerField(
        min_value=-1, max_value=10, default=0, help_text="1-10, or 0/-1 for watched but unscored"
    )


def _whole_number(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


@extend_schema_field(WatchedEntrySchema(many=True))
class WatchedEntriesField(serializers.Field):
    """A watched list as ``[(mal_id, score)]``, validated in one plain loop.

    Same rules and error shape as a nested ``WatchedEntrySchema(many=True)``, which cost
    ~70 ms for a 1,000-title list (a field object per value): most of a request's time.
    """

    default_error_messages = {
        "not_a_list": "Expected a list of {{mal_id, score}} objects.",
        "empty": "Give at least one watched title.",
        "too_long": f"At most {MAX_ENTRIES} entries.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        if not data:
            self.fail("empty")
        if len(data) > MAX_ENTRIES:
            self.fail("too_long")
        entries, errors = [], {}
        for position, item in enumerate(data):
            if not isinstance(item, dict):
                errors[position] = {"non_field_errors": ["Expected an object."]}
                continue
            problems = {}
            mal_id = _whole_number(item.get("mal_id"))
            if "mal_id" not in item:
                problems["mal_id"] = ["This field is required."]
            elif mal_id is None:
                problems["mal_id"] = ["A valid integer is required."]
            elif mal_id < 1:
                problems["mal_id"] = ["Ensure this value is greater than or equal to 1."]
            score = _whole_number(item.get("score", 0))
            if score is None:
                problems["score"] = ["A valid integer is required."]
            elif not -1 <= score <= 10:
                problems["score"] = ["Ensure this value is between -1 and 10."]
            if problems:
                errors[position] = problems
            else:
                entries.append((mal_id, score))
        if errors:
            raise serializers.ValidationError(errors)
        return entries

    def to_representation(self, value):
        return [{"mal_id": m, "score": s} for m, s in value]


class RecommendationCreateApi(APIView):
    """Top-N titles for a list of watched titles; nobody needs an account or a refit."""

    permission_classes = [AllowAny]
    authentication_classes: list = []  # stateless: no session, so no CSRF token needed

    @extend_schema_serializer(component_name="RecommendationRequest")
    class InputSerializer(serializers.Serializer):
        engine = serializers.ChoiceField(choices=Engine.choices, default="watchlist_nn")
        n = serializers.IntegerField(min_value=1, max_value=100, default=10)
        entries = WatchedEntriesField()

    @extend_schema_serializer(component_name="RecommendationResponse")
    class OutputSerializer(serializers.Serializer):
        engine = serializers.CharField()
        version = serializers.CharField()
        used_entries = serializers.IntegerField()
        ignored_entries = serializers.IntegerField()
        results = RecommendedItemOutput(many=True, source="items")

    @extend_schema(
        request=InputSerializer,
        responses=OutputSerializer,
        summary="Recommend titles for a watched list",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = recommendations_for_entries(
                engine=data.validated_data["engine"],
                entries=data.validated_data["entries"],
                n=data.validated_data["n"],
            )
        except NoModelError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        items = RecommendedItemOutput(result.items, many=True).data
        return Response(
            {
                "engine": result.engine,
                "version": result.version,
                "used_entries": result.used_entries,
                "ignored_entries": result.ignored_entries,
                "results": items,
            }
        )


class TrainingRunListApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema_serializer(component_name="TrainingRunRequest")
    class InputSerializer(serializers.Serializer):
        engine = serializers.ChoiceField(choices=Engine.choices)

    @extend_schema(responses=TrainingRunOutput(many=True), summary="Recent training runs (staff)")
    def get(self, request):
        return Response(TrainingRunOutput(TrainingRun.objects.all()[:50], many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={202: TrainingRunOutput},
        summary="Retrain an engine now (staff)",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = training_run_enqueue(
            engine=data.validated_data["engine"], requested_by=request.user, trigger="api"
        )
        return Response(TrainingRunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunDetailApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses=TrainingRunOutput, summary="One training run (staff)")
    def get(self, request, run_id: int):
        return Response(TrainingRunOutput(get_object_or_404(TrainingRun, pk=run_id)).data)


_SIMILAR_EXAMPLE = {
    "mal_id": 9253,
    "title": "Steins;Gate",
    "source": "knn_baseline",
    "version": "20260101T030000-run12",
    "franchise": [
        {"mal_id": 9253, "title": "Steins;Gate", "media_type": "tv"},
        {"mal_id": 10863, "title": "Steins;Gate: Oukoubakko no...", "media_type": "special"},
        {"mal_id": 11577, "title": "Steins;Gate Movie: Fuka Ryouiki...", "media_type": "movie"},
    ],
    "results": [
        {
            "mal_id": 1575,
            "title": "Code Geass: Hangyaku no Lelouch",
            "media_type": "tv",
            "start_year": 2006,
            "mean": 8.83,
            "picture": "https://cdn.myanimelist.net/images/anime/5/50331l.jpg",
            "similarity": 0.412,
            "franchise_size": 25,
            "entry_point": True,
        }
    ],
}


@extend_schema_serializer(component_name="FranchiseEntry")
class FranchiseEntryOutput(serializers.Serializer):
    mal_id = serializers.IntegerField()
    title = serializers.CharField()
    media_type = serializers.CharField()


@extend_schema_serializer(component_name="SimilarTitle")
class SimilarTitleOutput(serializers.Serializer):
    mal_id = serializers.IntegerField(source="anime.mal_id")
    title = serializers.CharField(source="anime.title")
    media_type = serializers.CharField(source="anime.media_type")
    start_year = serializers.IntegerField(source="anime.start_year", allow_null=True)
    mean = serializers.FloatField(source="anime.mean", allow_null=True)
    picture = serializers.CharField(source="anime.picture_url")
    similarity = serializers.FloatField(
        help_text="Engine similarity (knn_baseline: shrunk pearson_baseline; "
        "watchlist_nn: network score), or shared genres when source is 'genres'."
    )
    franchise_size = serializers.IntegerField(help_text="Titles in its franchise.")
    entry_point = serializers.BooleanField(
        source="replaced",
        help_text="True when the neighbour was a later entry of a series and this is "
        "where that series starts.",
    )


class AnimeSimilarListApi(APIView):
    """Titles like this one, one per franchise, for anyone (no account needed)."""

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=50, default=12)

    @extend_schema_serializer(component_name="SimilarTitles")
    class OutputSerializer(serializers.Serializer):
        mal_id = serializers.IntegerField()
        title = serializers.CharField()
        source = serializers.CharField(
            help_text="knn_baseline or watchlist_nn (the engine that knew the title), or "
            "genres when no trained engine knows it."
        )
        version = serializers.CharField(help_text="Engine version; empty for genres.")
        franchise = FranchiseEntryOutput(
            many=True, help_text="The title's own franchise, where it starts first (or empty)."
        )
        results = SimilarTitleOutput(many=True, source="items")

    @extend_schema(
        operation_id="anime_similar_list",
        summary="Similar titles (item neighbours, one per franchise)",
        parameters=[InputSerializer],
        responses={
            200: OpenApiResponse(
                response=OutputSerializer,
                examples=[OpenApiExample("Steins;Gate", value=_SIMILAR_EXAMPLE)],
            ),
            400: OpenApiResponse(description='Bad parameter, e.g. {"limit": ["..."]}'),
            404: OpenApiResponse(description="No such title (or hidden adult content)."),
        },
    )
    def get(self, request, mal_id: int):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        show_adult = settings.SHOW_ADULT_CONTENT
        anime = anime_get(mal_id=mal_id, show_adult=show_adult)
        if anime is None:
            raise NotFound("No anime with this id.")
        result = similar_titles_get(
            anime=anime, n=params.validated_data["limit"], show_adult=show_adult
        )
        return Response(
            self.OutputSerializer(
                {
                    "mal_id": anime.mal_id,
                    "title": anime.title,
                    "source": result.source,
                    "version": result.version,
                    "franchise": result.franchise,
                    "items": result.items,
                }
            ).data
        )
