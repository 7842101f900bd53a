from django.urls import path

from . import api

urlpatterns = [
    path("queue/", api.LabelQueueApi.as_view(), name="api-me-queue"),
    path("labels/", api.LabelListApi.as_view(), name="api-me-labels"),
    path("labels/<int:label_id>/", api.LabelDetailApi.as_view(), name="api-me-label"),
    path("models/", api.TasteModelListApi.as_view(), name="api-me-models"),
    path("models/train/", api.TasteModelTrainApi.as_view(), name="api-me-models-train"),
]
