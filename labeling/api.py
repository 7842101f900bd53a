"""REST API of a member's labeling queue, labels and taste-model runs (owner-only)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from animender.api_runs import RunAttemptsOutput
from labeling.selectors import label_get, label_list, label_queue_for_user, labeling_progress
from labeling.services import label_delete, label_save
from labeling.taste.runs import TASTE_RUNS, taste_training_request
from labeling.taste.selectors import taste_run_list as run_list

from .models import Label, TasteTrainingRun

MAX_QUEUE = 50
MAX_RUNS = 100


@extend_schema_serializer(component_name="QueueTitle")
class QueueTitleOutput(serializers.Serializer):
    mal_id = serializers.IntegerField(source="anime.mal_id")
    title = serializers.CharField(source="anime.title")
    title_english = serializers.CharField(source="anime.title_english")
    picture = serializers.CharField(source="anime.picture_url")
    mean = serializers.FloatField(source="anime.mean", allow_null=True)
    episodes = serializers.IntegerField(source="anime.num_episodes", allow_null=True)
    year = serializers.IntegerField(source="anime.start_year", allow_null=True)
    season = serializers.CharField(source="anime.get_start_season_display")
    media_type = serializers.CharField(source="anime.get_media_type_display")
    genres = serializers.SerializerMethodField()
    synopsis = serializers.CharField(source="anime.synopsis")
    url = serializers.SerializerMethodField()
    reason = serializers.CharField(help_text="cold_start, uncertainty or exploration")
    p_like = serializers.FloatField(
        allow_null=True, help_text="the current model's P(would like); null before a model"
    )

    def get_genres(self, item) -> list[str]:
        return [g.name for g in item.anime.genres.all()]

    def get_url(self, item) -> str:
        return f"/anime/{item.anime.mal_id}/"


@extend_schema_serializer(component_name="LabelingProgress")
class ProgressOutput(serializers.Serializer):
    likes = serializers.IntegerField()
    dislikes = serializers.IntegerField()
    skips = serializers.IntegerField()
    labels_given = serializers.IntegerField()
    labels_until_retrain = serializers.IntegerField()
    model_average_precision = serializers.FloatField(allow_null=True)
    model_version = serializers.CharField()
    model_labels = serializers.IntegerField()
    training_status = serializers.CharField(help_text='"", "queued" or "running"')


@extend_schema_serializer(component_name="Label")
class LabelOutput(serializers.ModelSerializer):
    mal_id = serializers.IntegerField(source="anime_id")
    title = serializers.CharField(source="anime.title")

    class Meta:
        model = Label
        fields = ["id", "mal_id", "title", "answer", "reason", "created_at"]


@extend_schema_serializer(component_name="TasteTrainingRun")
class TasteRunOutput(RunAttemptsOutput, serializers.ModelSerializer):
    average_precision = serializers.FloatField(source="metrics.average_precision", default=None)
    roc_auc = serializers.FloatField(source="metrics.roc_auc", default=None)
    base_rate = serializers.FloatField(source="metrics.base_rate", default=None)
    # "status" is the key clients know; the row calls it state (animender.runs).
    status = serializers.CharField(source="state", read_only=True)
    run_kind = TASTE_RUNS

    class Meta:
        model = TasteTrainingRun
        fields = [
            "id",
            "status",
            "attempts",
            "max_attempts",
            "trigger",
            "n_labels",
            "n_pos",
            "n_neg",
            "n_from_list",
            "average_precision",
            "roc_auc",
            "base_rate",
            "durations",
            "version",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class LabelQueueApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=MAX_QUEUE, default=10)

    @extend_schema_serializer(component_name="LabelQueue")
    class OutputSerializer(serializers.Serializer):
        strategy = serializers.CharField(help_text="cold_start (no model yet) or uncertainty")
        model_version = serializers.CharField()
        results = QueueTitleOutput(many=True, source="items")

    @extend_schema(
        parameters=[OpenApiParameter("limit", int, description=f"1-{MAX_QUEUE}, default 10")],
        responses=OutputSerializer,
        summary="The next titles to label, with the reason each was chosen",
    )
    def get(self, request):
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        queue = label_queue_for_user(user=request.user, limit=data.validated_data["limit"])
        return Response(self.OutputSerializer(queue).data)


class LabelListApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        mal_id = serializers.IntegerField(min_value=1)
        answer = serializers.ChoiceField(choices=Label.Answer.choices)
        reason = serializers.CharField(max_length=20, required=False, default="", allow_blank=True)

    @extend_schema_serializer(component_name="LabelSaved")
    class OutputSerializer(serializers.Serializer):
        label = LabelOutput()
        progress = ProgressOutput()

    @extend_schema(responses=LabelOutput(many=True), summary="My labels, newest first")
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(label_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(LabelOutput(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        summary="Answer about a title (answering again changes the answer)",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label, created = label_save(user=request.user, **data.validated_data)
        body = {"label": label, "progress": labeling_progress(user=request.user)}
        return Response(
            self.OutputSerializer(body).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class LabelDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    def _label(self, request, label_id: int) -> Label:
        label = label_get(user=request.user, label_id=label_id)
        if label is None:  # someone else's label is as absent as a missing one
            raise Http404("No label with this id.")
        return label

    @extend_schema(responses=LabelOutput, summary="One of my labels")
    def get(self, request, label_id: int):
        return Response(LabelOutput(self._label(request, label_id)).data)

    @extend_schema(responses={200: ProgressOutput}, summary="Delete (undo) one of my labels")
    def delete(self, request, label_id: int):
        label_delete(label=self._label(request, label_id))
        return Response(ProgressOutput(labeling_progress(user=request.user)).data)


class TasteModelListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="TasteModels")
    class OutputSerializer(serializers.Serializer):
        progress = ProgressOutput()
        results = TasteRunOutput(many=True)

    @extend_schema(responses=OutputSerializer, summary="My taste-model runs, newest first")
    def get(self, request):
        body = {
            "progress": labeling_progress(user=request.user),
            "results": run_list(user=request.user)[:MAX_RUNS],
        }
        return Response(self.OutputSerializer(body).data)


class TasteModelTrainApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None, responses={202: TasteRunOutput}, summary="Retrain my taste model now"
    )
    def post(self, request):
        run = taste_training_request(user=request.user, trigger=TasteTrainingRun.Trigger.MANUAL)
        run.refresh_from_db()  # eager mode has already trained it
        return Response(TasteRunOutput(run).data, status=status.HTTP_202_ACCEPTED)
