"""The member's list as a download: MyAnimeList XML (re-importable at MAL) or CSV."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.utils import timezone

from .mal_export import ExportRow, render_csv, render_xml
from .models import ListEntry


def list_export_rows(*, user) -> list[ExportRow]:
    rows = (
        ListEntry.objects.filter(user=user)
        .order_by("anime__title", "anime_id")
        .values_list(
            "anime_id",
            "anime__title",
            "anime__media_type",
            "anime__num_episodes",
            "status",
            "score",
            "episodes_watched",
            "not_interested",
            "updated_at",
        )
    )
    return [ExportRow(*r) for r in rows]


def list_export_response(*, user, fmt: str) -> HttpResponse:
    stamp = f"{timezone.now():%Y%m%d}"
    if fmt == "xml":
        body = render_xml(
            user_name=user.username, user_id=user.pk, rows=list_export_rows(user=user)
        )
        response = HttpResponse(body, content_type="application/xml; charset=utf-8")
    elif fmt == "csv":
        body = render_csv(list_export_rows(user=user))
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    else:
        raise Http404("Export formats: xml, csv.")
    response["Content-Disposition"] = (
        f'attachment; filename="animelist_{user.username}_{stamp}.{fmt}"'
    )
    return response
