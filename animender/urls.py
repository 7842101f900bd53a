from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts.views import public_list

admin.site.site_header = "Animender administration"
admin.site.site_title = "Animender admin"
admin.site.index_title = "Catalog, training runs and accounts"

handler404 = "animender.error_pages.page_not_found"
handler500 = "animender.error_pages.server_error"

urlpatterns = [
    path("", include("catalog.urls")),
    path("", include("labeling.urls")),
    path("", include("recommender.urls")),
    path("accounts/", include("allauth.urls")),
    path("me/", include("accounts.urls")),
    path("users/<str:username>/list/", public_list, name="public-list"),
    path("admin/", admin.site.urls),
    path("api/", include("catalog.api_urls")),
    path("api/", include("recommender.api_urls")),
    path("api/", include("accounts.api_urls")),
    path("api/me/", include("labeling.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
