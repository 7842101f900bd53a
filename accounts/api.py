"""The member's own API: tokens, profile, list, imports. Everything is scoped to
``request.user``; another member's rows are simply not found (404), anonymous calls get 401.

Views validate with a nested InputSerializer, call one service or selector, and render with
an OutputSerializer; service errors become 4xx JSON in ``animender.api_errors``.
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_access import ImportRateThrottle, MeApi, MeRateThrottle, TokenObtainRateThrottle
from animender.api_runs import RunAttemptsOutput

from . import exports, imports, selectors, services
from .imports import IMPORT_RUNS
from .models import ApiToken, ImportRun, ListEntry, Profile

_ERRORS = OpenApiResponse(
    description='4xx with a JSON body whose keys name the field, e.g. {"score": ["..."]}'
)


@extend_schema_serializer(component_name="ApiToken")
class ApiTokenOutput(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at"]


@extend_schema_serializer(component_name="ListEntry")
class ListEntryOutput(serializers.ModelSerializer):
    mal_id = serializers.IntegerField(source="anime_id")
    title = serializers.CharField(source="anime.title")
    media_type = serializers.CharField(source="anime.media_type")
    num_episodes = serializers.IntegerField(source="anime.num_episodes", allow_null=True)
    mean = serializers.FloatField(source="anime.mean", allow_null=True)

    class Meta:
        model = ListEntry
        fields = [
            "mal_id",
            "title",
            "media_type",
            "num_episodes",
            "mean",
            "status",
            "score",
            "episodes_watched",
            "not_interested",
            "created_at",
            "updated_at",
        ]


@extend_schema_serializer(component_name="ImportRun")
class ImportRunOutput(RunAttemptsOutput, serializers.ModelSerializer):
    percent = serializers.IntegerField()
    # "status" is the key clients know; the row calls it state (animender.runs).
    status = serializers.CharField(source="state", read_only=True)
    run_kind = IMPORT_RUNS

    class Meta:
        model = ImportRun
        fields = [
            "id",
            "source",
            "status",
            "attempts",
            "max_attempts",
            "phase",
            "mal_username",
            "filename",
            "total",
            "processed",
            "percent",
            "created",
            "updated",
            "unchanged",
            "skipped",
            "titles_fetched",
            "missing",
            "error",
            "error_code",
            "created_at",
            "started_at",
            "finished_at",
        ]


# -- tokens -------------------------------------------------------------------------------


class ApiTokenObtainApi(APIView):
    """Exchange a user name (or email) and password for a new named token."""

    authentication_classes: list = []  # credentials are in the body; no session, no CSRF
    permission_classes = [AllowAny]
    throttle_classes = [TokenObtainRateThrottle]

    @extend_schema_serializer(component_name="TokenObtainRequest")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
        name = serializers.CharField(required=False, allow_blank=True, max_length=64)

    @extend_schema_serializer(component_name="TokenCreated")
    class OutputSerializer(ApiTokenOutput):
        token = serializers.CharField(help_text="The key: shown only now, store it safely.")

        class Meta(ApiTokenOutput.Meta):
            fields = ["token", *ApiTokenOutput.Meta.fields]

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 400: _ERRORS},
        summary="Create an API token (send it as 'Authorization: Token <key>')",
        auth=[],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise ValidationError({"detail": ["Wrong user name or password."]})
        token, key = services.api_token_create(user=user, name=data.validated_data.get("name", ""))
        token.token = key
        return Response(self.OutputSerializer(token).data, status=status.HTTP_201_CREATED)


class ApiTokenRevokeCurrentApi(MeApi):
    @extend_schema(responses={204: None, 400: _ERRORS}, summary="Revoke the token of this request")
    def delete(self, request):
        if not isinstance(request.auth, ApiToken):
            raise ValidationError({"detail": ["This request was not made with a token."]})
        services.api_token_revoke(user=request.user, token_id=request.auth.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenListApi(MeApi):
    @extend_schema(responses=ApiTokenOutput(many=True), summary="My API tokens (keys not shown)")
    def get(self, request):
        return Response(ApiTokenOutput(selectors.api_token_list(user=request.user), many=True).data)


class ApiTokenDeleteApi(MeApi):
    @extend_schema(responses={204: None, 404: _ERRORS}, summary="Revoke one of my tokens")
    def delete(self, request, token_id: int):
        if not services.api_token_revoke(user=request.user, token_id=token_id):
            raise NotFound("No such token.")
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- profile ------------------------------------------------------------------------------


class ProfileDetailApi(MeApi):
    @extend_schema_serializer(component_name="Profile")
    class OutputSerializer(serializers.ModelSerializer):
        username = serializers.CharField(source="user.username")
        email = serializers.EmailField(source="user.email")

        class Meta:
            model = Profile
            fields = [
                "username",
                "email",
                "mal_username",
                "show_adult",
                "title_language",
                "list_private",
                "labels_from_list",
            ]

    @extend_schema_serializer(component_name="ProfileUpdate")
    class InputSerializer(serializers.Serializer):
        mal_username = serializers.CharField(required=False, allow_blank=True, max_length=32)
        show_adult = serializers.BooleanField(required=False)
        title_language = serializers.ChoiceField(
            choices=Profile.TitleLanguage.choices, required=False
        )
        list_private = serializers.BooleanField(required=False)
        labels_from_list = serializers.BooleanField(required=False)

    @extend_schema(responses=OutputSerializer, summary="My profile and settings")
    def get(self, request):
        return Response(self.OutputSerializer(selectors.profile_get(user=request.user)).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 400: _ERRORS},
        summary="Change my settings",
    )
    def patch(self, request):
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        profile = services.profile_update(user=request.user, **data.validated_data)
        return Response(self.OutputSerializer(profile).data)


# -- list ---------------------------------------------------------------------------------


class ListPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000


class _EntryFields(serializers.Serializer):
    # Ranges and status values are checked by the service, so pages and API say the same.
    status = serializers.CharField(required=False, allow_blank=True)
    score = serializers.IntegerField(required=False, allow_null=True)
    episodes_watched = serializers.IntegerField(required=False)
    not_interested = serializers.BooleanField(required=False)


class ListEntryListApi(MeApi):
    @extend_schema_serializer(component_name="ListFilter")
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=selectors.LIST_TABS,
            required=False,
            allow_blank=True,
        )
        q = serializers.CharField(required=False, allow_blank=True, max_length=100)
        sort = serializers.ChoiceField(
            choices=[v for v, _ in selectors.ListSort.CHOICES], required=False
        )

    @extend_schema_serializer(component_name="ListEntryCreate")
    class InputSerializer(_EntryFields):
        mal_id = serializers.IntegerField()

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: ListEntryOutput(many=True), 400: _ERRORS},
        summary="My list (filter by status, 'not_interested', title; sort)",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        qs = selectors.list_entry_queryset(
            user=request.user,
            tab=f.get("status", ""),
            q=f.get("q", ""),
            sort=f.get("sort") or selectors.ListSort.UPDATED,
        )
        paginator = ListPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ListEntryOutput(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: ListEntryOutput, 400: _ERRORS, 409: _ERRORS},
        summary="Add a title to my list",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.list_entry_create(user=request.user, **data.validated_data)
        return Response(ListEntryOutput(entry).data, status=status.HTTP_201_CREATED)


class ListEntryDetailApi(MeApi):
    @extend_schema_serializer(component_name="ListEntryUpdate")
    class InputSerializer(_EntryFields):
        pass

    def _entry(self, request, mal_id: int) -> ListEntry:
        entry = selectors.list_entry_get(user=request.user, mal_id=mal_id)
        if entry is None:
            raise NotFound(f"MAL id {mal_id} is not on your list.")
        return entry

    @extend_schema(responses={200: ListEntryOutput, 404: _ERRORS}, summary="One entry of my list")
    def get(self, request, mal_id: int):
        return Response(ListEntryOutput(self._entry(request, mal_id)).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: ListEntryOutput, 400: _ERRORS, 404: _ERRORS},
        summary="Change an entry",
    )
    def patch(self, request, mal_id: int):
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        self._entry(request, mal_id)
        entry = services.list_entry_update(user=request.user, mal_id=mal_id, **data.validated_data)
        return Response(ListEntryOutput(entry).data)

    @extend_schema(responses={204: None, 404: _ERRORS}, summary="Remove a title from my list")
    def delete(self, request, mal_id: int):
        if not services.list_entry_delete(user=request.user, mal_id=mal_id):
            raise NotFound(f"MAL id {mal_id} is not on your list.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class ListExportApi(MeApi):
    @extend_schema(
        parameters=[
            OpenApiParameter("fmt", OpenApiTypes.STR, OpenApiParameter.PATH, enum=["xml", "csv"])
        ],
        responses={
            (200, "application/xml"): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.STR,
        },
        summary="My list as MyAnimeList XML (importable at MAL) or CSV",
    )
    def get(self, request, fmt: str) -> HttpResponse:
        return exports.list_export_response(user=request.user, fmt=fmt)


# -- imports ------------------------------------------------------------------------------


class ImportRunListApi(MeApi):
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    throttle_classes = [MeRateThrottle, ImportRateThrottle]

    @extend_schema_serializer(component_name="ImportStart")
    class InputSerializer(serializers.Serializer):
        mal_username = serializers.CharField(required=False, allow_blank=True, max_length=32)
        file = serializers.FileField(
            required=False, help_text="MAL's export, .xml or .xml.gz (multipart upload)"
        )

        def validate(self, attrs):
            if bool(attrs.get("file")) == bool(attrs.get("mal_username")):
                raise serializers.ValidationError(
                    "Send either mal_username (import through the MAL API) or file (your "
                    "MAL XML export), not both."
                )
            return attrs

    @extend_schema(responses=ImportRunOutput(many=True), summary="My recent imports")
    def get(self, request):
        runs = selectors.import_run_list(user=request.user)[:20]
        return Response(ImportRunOutput(runs, many=True).data)

    @extend_schema(
        request={
            "application/json": inline_serializer(
                "ImportByUsername", {"mal_username": serializers.CharField()}
            ),
            "multipart/form-data": inline_serializer(
                "ImportByUpload", {"file": serializers.FileField()}
            ),
        },
        responses={202: ImportRunOutput, 400: _ERRORS, 409: _ERRORS, 503: _ERRORS},
        summary="Start importing my MAL list (by user name, or an uploaded XML export)",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data.get("file"):
            run = imports.import_run_start_xml(
                user=request.user, upload=data.validated_data["file"]
            )
        else:
            run = imports.import_run_start_mal(
                user=request.user, mal_username=data.validated_data["mal_username"]
            )
        run.refresh_from_db()
        return Response(ImportRunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class ImportRunDetailApi(MeApi):
    @extend_schema(responses={200: ImportRunOutput, 404: _ERRORS}, summary="One import's progress")
    def get(self, request, run_id: int):
        run = selectors.import_run_get(user=request.user, run_id=run_id)
        if run is None:
            raise NotFound("No such import.")
        return Response(ImportRunOutput(run).data)
