from __future__ import annotations

from django.urls import path

from . import views

app_name = "labeling"

urlpatterns = [
    path("label/", views.label_page, name="label"),
    path("label/undo/", views.label_undo, name="label-undo"),
    path("me/model/", views.model_page, name="model"),
    path("me/model/train/", views.model_train, name="model-train"),
]
