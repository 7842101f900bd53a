from __future__ import annotations

from django.urls import path

from . import api

urlpatterns = [
    path("anime/", api.AnimeListApi.as_view(), name="api-anime-list"),
    path("anime/<int:mal_id>/", api.AnimeDetailApi.as_view(), name="api-anime-detail"),
    path("genres/", api.GenreListApi.as_view(), name="api-genre-list"),
]
