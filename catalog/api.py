"""Read-only catalog API: search/browse titles, one title, genres."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .filters import AnimeSearchInputSerializer, AnimeSearchParams
from .selectors import adult_visible, anime_get, anime_search, genre_list

_BAD_PARAMS = OpenApiResponse(
    description="Invalid query parameters; each key names a parameter, e.g. "
    '{"min_score": ["Ensure this value is less than or equal to 10."]}',
)
_NOT_FOUND = OpenApiResponse(description="No such title (or hidden adult content).")


@extend_schema_serializer(component_name="NamedRef")
class NamedRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


def _page_of(
    item: type[serializers.Serializer], *, component_name: str
) -> type[serializers.Serializer]:
    """Schema of a PageNumberPagination response whose ``results`` are ``item``."""
    page = type(
        component_name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )
    return extend_schema_serializer(component_name=component_name)(page)


class AnimePagination(PageNumberPagination):
    """Pages by the already validated parameters, so ``?page=`` (blank) means page 1 here too."""

    def __init__(self, *, params: AnimeSearchParams) -> None:
        self.params = params

    def get_page_size(self, request: Request) -> int:
        return self.params.page_size

    def get_page_number(self, request: Request, paginator) -> int:
        return self.params.page


class AnimeListApi(APIView):
    permission_classes = [AllowAny]

    # Nested serializers share the name OutputSerializer, so each gets its own component name.
    @extend_schema_serializer(component_name="AnimeListItem")
    class OutputSerializer(serializers.Serializer):
        mal_id = serializers.IntegerField()
        title = serializers.CharField()
        title_english = serializers.CharField()
        title_japanese = serializers.CharField()
        media_type = serializers.CharField()
        status = serializers.CharField()
        num_episodes = serializers.IntegerField(allow_null=True)
        start_season = serializers.CharField()
        start_year = serializers.IntegerField(allow_null=True)
        mean = serializers.FloatField(allow_null=True)
        rank = serializers.IntegerField(allow_null=True)
        popularity = serializers.IntegerField(allow_null=True)
        picture_medium = serializers.CharField()
        picture_large = serializers.CharField()
        genres = NamedRefSerializer(many=True)
        mal_url = serializers.CharField()

    PageSerializer = _page_of(OutputSerializer, component_name="PaginatedAnimeList")

    @extend_schema(
        operation_id="anime_list",
        summary="Search and browse titles",
        parameters=[AnimeSearchInputSerializer],
        responses={200: PageSerializer, 400: _BAD_PARAMS},
    )
    def get(self, request: Request) -> Response:
        filters = AnimeSearchInputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.to_params()
        qs = anime_search(params=params, show_adult=adult_visible(user=request.user))
        paginator = AnimePagination(params=params)
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class AnimeDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="AnimeDetail")
    class OutputSerializer(AnimeListApi.OutputSerializer):
        synonyms = serializers.ListField(child=serializers.CharField())
        synopsis = serializers.CharField()
        start_date = serializers.CharField()
        end_date = serializers.CharField()
        source = serializers.CharField()
        rating = serializers.CharField(help_text="Age rating code, e.g. pg_13.")
        rating_display = serializers.CharField(source="get_rating_display")
        num_list_users = serializers.IntegerField(allow_null=True, help_text="MAL members.")
        num_scoring_users = serializers.IntegerField(allow_null=True)
        num_favorites = serializers.IntegerField(allow_null=True)
        average_episode_duration = serializers.IntegerField(allow_null=True, help_text="Seconds.")
        nsfw = serializers.CharField()
        is_adult = serializers.BooleanField()
        studios = NamedRefSerializer(many=True)
        mal_updated_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        operation_id="anime_retrieve",
        summary="One title with every field",
        responses={200: OutputSerializer, 404: _NOT_FOUND},
    )
    def get(self, request: Request, mal_id: int) -> Response:
        anime = anime_get(mal_id=mal_id, show_adult=adult_visible(user=request.user))
        if anime is None:
            raise NotFound("No anime with this id.")
        return Response(self.OutputSerializer(anime).data)


class GenreListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="GenreWithCount")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        anime_count = serializers.IntegerField()

    @extend_schema(
        operation_id="genre_list",
        summary="Genres with their number of visible titles",
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        genres = genre_list(show_adult=adult_visible(user=request.user))
        return Response(self.OutputSerializer(genres, many=True).data)
