"""Catalog pages: landing, browse/search, one title. They validate, call a selector, render."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from .filters import AnimeSearchInputSerializer, AnimeSearchParams, Sort
from .selectors import (
    adult_visible,
    anime_filter_options,
    anime_get,
    anime_search,
    anime_year_list,
    genre_list,
)

HOME_ROW_SIZE = 12
HOME_GENRES = 18


def home(request: HttpRequest) -> HttpResponse:
    show_adult = adult_visible(user=request.user)
    top = anime_search(params=AnimeSearchParams(sort=Sort.SCORE), show_adult=show_adult)
    popular = anime_search(params=AnimeSearchParams(sort=Sort.POPULARITY), show_adult=show_adult)
    genres = sorted(genre_list(show_adult=show_adult), key=lambda g: -g.anime_count)
    return render(
        request,
        "catalog/home.html",
        {
            "top_rated": top[:HOME_ROW_SIZE],
            "most_popular": popular[:HOME_ROW_SIZE],
            "genres": sorted(genres[:HOME_GENRES], key=lambda g: g.name),
        },
    )


def _form_state(request: HttpRequest) -> dict:
    """The raw submitted values, echoed back into the controls even when they are invalid."""
    get = request.GET
    return {
        "q": get.get("q", ""),
        "genres": [g for g in get.getlist("genre") if g],
        "studio": get.get("studio", ""),
        "type": get.get("type", ""),
        "season": get.get("season", ""),
        "year": get.get("year", ""),
        "status": get.get("status", ""),
        "min_score": get.get("min_score", ""),
        "sort": get.get("sort", "") or (Sort.RELEVANCE if get.get("q", "").strip() else Sort.SCORE),
    }


def anime_list(request: HttpRequest) -> HttpResponse:
    show_adult = adult_visible(user=request.user)
    options = anime_filter_options(show_adult=show_adult)
    context = {
        "form": _form_state(request),
        "genre_options": genre_list(show_adult=show_adult),
        "type_options": options.media_types,
        "season_options": options.seasons,
        "year_options": anime_year_list(show_adult=show_adult),
        "status_options": options.statuses,
        # "Best match" only means something while searching.
        "sort_options": [
            (v, label) for v, label in Sort.CHOICES if v != Sort.RELEVANCE or request.GET.get("q")
        ],
    }
    filters = AnimeSearchInputSerializer(data=request.GET)
    if not filters.is_valid():
        # A hand-edited URL gets the page with an explanation, not a 500 or a silent reset.
        labels = {name: name.replace("_", " ") for name in filters.fields}
        context["errors"] = [(labels.get(k, k), msgs) for k, msgs in filters.errors.items()]
        return render(request, "catalog/anime_list.html", context, status=400)
    params = filters.to_params()
    paginator = Paginator(anime_search(params=params, show_adult=show_adult), params.page_size)
    # get_page clamps a page past the end to the last one, which suits a browser.
    page = paginator.get_page(params.page)
    context.update(params=params, page_obj=page, anime_list=page.object_list, paginator=paginator)
    return render(request, "catalog/anime_list.html", context)


def anime_detail(request: HttpRequest, mal_id: int) -> HttpResponse:
    anime = anime_get(mal_id=mal_id, show_adult=adult_visible(user=request.user))
    if anime is None:
        raise Http404("No title with this id.")
    return render(request, "catalog/anime_detail.html", {"anime": anime})
