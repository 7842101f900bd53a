"""REST API of the global engines: status, recommendations for any list, training runs."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from .ml import artifacts
from .ml.registry import DEFAULT_ENGINE, ENGINES
from .models import Engine, TrainingRun
from .services import NoModelError, recommendations_for_entries, training_run_enqueue

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
    contributions = serializers.DictField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="hybrid: the score split by component (ease, watchlist_nn, als, "
        "knn_baseline, popularity, user, ...); null for single engines",
    )
    because = serializers.ListField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text="hybrid: MAL ids of listed titles that point most to this one",
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
        data = []
        for name in ENGINES:
            last = TrainingRun.objects.filter(engine=name, state=TrainingRun.State.DONE).first()
            data.append(
                {
                    "name": name,
                    "label": Engine(name).label,
                    "version": artifacts.current_version(settings.MODEL_DIR, name),
                    "last_run": last,
                }
            )
        return Response(self.OutputSerializer(data, many=True).data)


class RecommendationCreateApi(APIView):
    """Top-N titles for a list of watched titles; nobody needs an account or a refit."""

    permission_classes = [AllowAny]
    authentication_classes: list = []  # stateless: no session, so no CSRF token needed

    @extend_schema_serializer(component_name="WatchedEntry")
    class EntrySerializer(serializers.Serializer):
        mal_id = serializers.IntegerField(min_value=1)
        score = serializers.IntegerField(
            min_value=-1,
            max_value=10,
            default=0,
            help_text="1-10, or 0/-1 for watched but unscored",
        )

    @extend_schema_serializer(component_name="RecommendationRequest")
    class InputSerializer(serializers.Serializer):
        engine = serializers.ChoiceField(choices=Engine.choices, default=DEFAULT_ENGINE)
        n = serializers.IntegerField(min_value=1, max_value=100, default=10)
        entries = serializers.ListField(min_length=1, max_length=MAX_ENTRIES)

        def validate_entries(self, value):
            entry = RecommendationCreateApi.EntrySerializer(data=value, many=True)
            entry.is_valid(raise_exception=True)
            return [(e["mal_id"], e["score"]) for e in entry.validated_data]

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
