"""REST API of the global engines: status, recommendations for any list, training runs."""

from __future__ import annotations

from collections import Counter

from django.conf import settings
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
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from animender.api_runs import RunAttemptsOutput
from catalog.selectors import adult_visible, anime_get
from recommender.engines.selectors import (
    NoModelError,
    RetrainPendingError,
    engine_status_list,
    recommendations_for_entries,
    training_run_get,
    training_run_list,
)
from recommender.engines.services import TRAINING_RUNS, training_run_enqueue
from recommender.engines.similar import similar_titles_get
from recommender.ml.registry import DEFAULT_ENGINE, engine_choices
from recommender.models import TrainingRun

# A MAL list rarely passes 2,000 titles; the cap bounds the work one request can ask for.
MAX_ENTRIES = 2000


@extend_schema_serializer(component_name="TrainingRun")
class TrainingRunOutput(RunAttemptsOutput, serializers.ModelSerializer):
    # The cap a run whose worker keeps dying is failed at (RUN_MAX_ATTEMPTS, per kind).
    run_kind = TRAINING_RUNS

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "engine",
            "state",
            "trigger",
            "version",
            "metrics",
            "attempts",
            "max_attempts",
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


@extend_schema_serializer(component_name="WatchedEntry")
class WatchedEntrySchema(serializers.Serializer):
    mal_id = serializers.IntegerField(min_value=1)
    score = serializers.IntegerField(
        min_value=1,
        max_value=10,
        allow_null=True,
        default=None,
        help_text="1-10, or null for watched without a score. Scores at or below "
        "RECOMMENDER_DISLIKE_MAX_SCORE (default 4) count against similar titles.",
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
    """A watched list as ``[(mal_id, score)]`` (score None: no score), validated in one loop.

    Same rules and error shape as a nested ``WatchedEntrySchema(many=True)``, which cost
    ~70 ms for a 1,000-title list (a field object per value): most of a request's time.
    """

    default_error_messages = {
        "not_a_list": "Expected a list of {{mal_id, score}} objects.",
        "empty": "Give at least one watched title.",
        "too_long": f"Ensure this field has no more than {MAX_ENTRIES} elements.",
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
            raw_score = item.get("score")
            score = None if raw_score is None else _whole_number(raw_score)
            if raw_score is not None and score is None:
                problems["score"] = ["A valid integer is required."]
            elif score is not None and not 1 <= score <= 10:
                problems["score"] = [
                    "Ensure this value is between 1 and 10 (null: watched, no score)."
                ]
            if problems:
                errors[position] = problems
            else:
                entries.append((mal_id, score))
        if errors:
            raise serializers.ValidationError(errors)
        counts = Counter(mal_id for mal_id, _ in entries)
        repeated = [str(m) for m, c in counts.items() if c > 1]
        if repeated:
            raise serializers.ValidationError(
                f"Each title may appear once; repeated mal_id: {', '.join(repeated)}."
            )
        return entries

    def to_representation(self, value):
        return [{"mal_id": m, "score": s} for m, s in value]


class RecommendationCreateApi(APIView):
    """Top-N titles for a list of watched titles; nobody needs an account or a refit."""

    permission_classes = [AllowAny]
    authentication_classes: list = []  # stateless: no session, so no CSRF token needed
    throttle_classes = [RecommendationAnonThrottle]

    @extend_schema_serializer(component_name="RecommendationRequest")
    class InputSerializer(serializers.Serializer):
        engine = serializers.ChoiceField(choices=engine_choices(), default=DEFAULT_ENGINE)
        n = serializers.IntegerField(min_value=1, max_value=100, default=10)
        entries = WatchedEntriesField(
            help_text=f"Watched titles, each once; at most {MAX_ENTRIES}."
        )

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
            503: OpenApiResponse(
                description="The engine has not been trained yet, or its version cannot "
                'serve the current catalog: {"detail": ..., "code": "retrain_pending"}.'
            ),
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
        except RetrainPendingError as exc:
            return Response(
                {"detail": str(exc), "code": "retrain_pending"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
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
        show_adult = adult_visible(user=request.user)
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
