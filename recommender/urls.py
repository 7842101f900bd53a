from __future__ import annotations

from django.urls import path

from . import views

app_name = "recommender"

urlpatterns = [
    path("engines/", views.engines_page, name="engines"),
    path("engines/evaluate/", views.evaluation_start, name="evaluation-start"),
]
