from django.urls import path

from . import api

urlpatterns = [
    path("auth/token/", api.ApiTokenObtainApi.as_view(), name="api-token-obtain"),
    path("auth/token/current/", api.ApiTokenRevokeCurrentApi.as_view(), name="api-token-current"),
    path("auth/tokens/", api.ApiTokenListApi.as_view(), name="api-tokens"),
    path("auth/tokens/<int:token_id>/", api.ApiTokenDeleteApi.as_view(), name="api-token"),
    path("me/", api.ProfileDetailApi.as_view(), name="api-me"),
    path("me/list/", api.ListEntryListApi.as_view(), name="api-me-list"),
    path("me/list/<int:mal_id>/", api.ListEntryDetailApi.as_view(), name="api-me-list-entry"),
    path("me/list/export.<str:fmt>", api.ListExportApi.as_view(), name="api-me-list-export"),
    path("me/imports/", api.ImportRunListApi.as_view(), name="api-me-imports"),
    path("me/imports/<int:run_id>/", api.ImportRunDetailApi.as_view(), name="api-me-import"),
]
