"""REST API of the global engines: status, recommendations for any list, training runs."""

from __future__ import annotations

from collections import Counter

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from .ml.registry import DEFAULT_ENGINE, engine_choices
from .models import TrainingRun
from .selectors import (
    NoModelError,
    engine_status_list,
    recommendations_for_entries,
    training_run_get,
    training_run_list,
)
from .services import training_run_enqueue

# A MAL list rarely passes 2,000 titles; the cap bounds the work one request can ask for.
MAX_ENTRIES = 2000


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


class RecommendationAnonThrottle(AnonRateThrottle):
    """Per-IP rate of the open recommendations endpoint, read from settings per request."""

    scope = "recommendations_anon"

    def get_rate(self) -> str:
        return settings.RECOMMENDATIONS_ANON_RATE


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


class RecommendationCreateApi(APIView):
    """Top-N titles for a list of watched titles; nobody needs an account or a refit."""

    permission_classes = [AllowAny]
    authentication_classes: list = []  # stateless: no session, so no CSRF token needed
    throttle_classes = [RecommendationAnonThrottle]

    @extend_schema_serializer(component_name="WatchedEntry")
    class EntrySerializer(serializers.Serializer):
        mal_id = serializers.IntegerField(min_value=1)
        score = serializers.IntegerField(
            min_value=1,
            max_value=10,
            allow_null=True,
            default=None,
            help_text="1-10, or null for watched without a score. Scores at or below "
            "RECOMMENDER_DISLIKE_MAX_SCORE (default 4) count against similar titles.",
        )

    @extend_schema_serializer(component_name="RecommendationRequest")
    class InputSerializer(serializers.Serializer):
        engine = serializers.ChoiceField(choices=engine_choices(), default=DEFAULT_ENGINE)
        n = serializers.IntegerField(min_value=1, max_value=100, default=10)
        entries = serializers.ListField(
            min_length=1,
            max_length=MAX_ENTRIES,
            help_text=f"Watched titles, each once; at most {MAX_ENTRIES}.",
        )

        def validate_entries(self, value):
            entry = RecommendationCreateApi.EntrySerializer(data=value, many=True)
            entry.is_valid(raise_exception=True)
            pairs = [(e["mal_id"], e["score"]) for e in entry.validated_data]
            counts = Counter(mal_id for mal_id, _ in pairs)
            repeated = [str(m) for m, c in counts.items() if c > 1]
            if repeated:
                raise serializers.ValidationError(
                    f"Each title may appear once; repeated mal_id: {', '.join(repeated)}."
                )
            return pairs

    @extend_schema_serializer(component_name="RecommendationResponse")
    class OutputSerializer(serializers.Serializer):
        engine = serializers.CharField()
        version = serializers.CharField()
        used_entries = serializers.IntegerField()
        ignored_entries = serializers.IntegerField()
        results = RecommendedItemOutput(many=True, source="items")

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="Invalid entries; the body names them."),
            429: OpenApiResponse(description="Too many requests from this address."),
            503: OpenApiResponse(description="The engine has not been trained yet."),
        },
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
        return Response(self.OutputSerializer(result).data)


class TrainingRunListApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema_serializer(component_name="TrainingRunRequest")
    class InputSerializer(serializers.Serializer):
        engine = serializers.ChoiceField(choices=engine_choices())

    @extend_schema(responses=TrainingRunOutput(many=True), summary="Recent training runs (staff)")
    def get(self, request):
        return Response(TrainingRunOutput(training_run_list(), many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={202: TrainingRunOutput, 409: OpenApiResponse(description="Already running.")},
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
        run = training_run_get(run_id=run_id)
        if run is None:
            raise NotFound("No training run with this id.")
        return Response(TrainingRunOutput(run).data)
