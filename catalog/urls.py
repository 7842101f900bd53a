from __future__ import annotations

from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("", views.home, name="home"),
    path("anime/", views.anime_list, name="anime-list"),
    path("anime/<int:mal_id>/", views.anime_detail, name="anime-detail"),
]
