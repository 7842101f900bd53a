from django.urls import path

from recommender.engines import api
from recommender.personal import api as personal_api

urlpatterns = [
    path(
        "anime/<int:mal_id>/similar/", api.AnimeSimilarListApi.as_view(), name="api-anime-similar"
    ),
    path("engines/", api.EngineListApi.as_view(), name="api-engines"),
    path("recommendations/", api.RecommendationCreateApi.as_view(), name="api-recommendations"),
    path(
        "me/recommendations/",
        personal_api.UserRecommendationListApi.as_view(),
        name="api-me-recommendations",
    ),
    path("training-runs/", api.TrainingRunListApi.as_view(), name="api-training-runs"),
    path(
        "training-runs/<int:run_id>/", api.TrainingRunDetailApi.as_view(), name="api-training-run"
    ),
]
