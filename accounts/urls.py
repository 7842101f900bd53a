from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("list/", views.my_list, name="my-list"),
    path("list/<int:mal_id>/", views.list_entry_set, name="list-entry-set"),
    path("list/export.<str:fmt>", views.list_export, name="list-export"),
    path("import/", views.import_start, name="import"),
    path("import/<int:run_id>/", views.import_detail, name="import-detail"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/tokens/", views.token_create, name="token-create"),
    path("settings/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("delete/", views.account_delete, name="delete"),
]
