from __future__ import annotations

from django.urls import path

from recommender.evaluation import views
from recommender.personal import views as personal_views

app_name = "recommender"

urlpatterns = [
    path("engines/", views.engines_page, name="engines"),
    path("engines/evaluate/", views.evaluation_start, name="evaluation-start"),
    path("me/recommendations/", personal_views.my_recommendations, name="my-recommendations"),
    path(
        "me/recommendations/<int:mal_id>/",
        personal_views.recommendation_act,
        name="recommendation-act",
    ),
]
