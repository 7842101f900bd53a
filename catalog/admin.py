from django.contrib import admin

from .models import Anime, AnimeRelation, Genre, Studio, SyncRun


class AnimeRelationInline(admin.TabularInline):
    model = AnimeRelation
    extra = 0


@admin.register(Anime)
class AnimeAdmin(admin.ModelAdmin):
    inlines = [AnimeRelationInline]
    list_display = ["mal_id", "title", "media_type", "status", "start_year", "mean", "popularity"]
    list_filter = ["media_type", "status", "is_adult"]
    search_fields = ["title", "search_text"]
    filter_horizontal = ["genres", "studios"]


admin.site.register(Genre)
admin.site.register(Studio)


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "mode",
        "state",
        "attempts",
        "pages",
        "titles_created",
        "titles_updated",
        "error",
        "created_at",
        "finished_at",
    ]
    list_filter = ["mode", "state"]
    readonly_fields = [f.name for f in SyncRun._meta.fields]
