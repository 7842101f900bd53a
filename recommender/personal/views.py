"""The member's recommendations page and its one-click card actions.

The page reads stored cards only (``recommender.personal.selectors``). An action (rate, plan to
watch, not interested) is saved through the accounts list service, which asks for a
background refresh; without JavaScript it is a form post that comes back to the page,
with it (``static/js/recommendations.js``) a fetch that gets the card to put in its place.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts import services as list_services
from accounts.models import ListEntry
from accounts.selectors import list_entry_get
from catalog.models import Anime
from catalog.selectors import adult_visible, anime_filter_options, anime_year_list, genre_list
from recommender.personal import selectors
from recommender.personal.filters import RecommendationQueryInput

PLAN_STRIP = 12
COMPARE_PER_ENGINE = 8
ACTIONS = ("rate", "plan", "not_interested")


def _is_fetch(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _form_state(get: QueryDict) -> dict:
    """The submitted values, echoed into the controls even when invalid."""
    keys = ("engine", "type", "season", "year", "status", "min_score")
    state = {k: get.get(k, "") for k in keys}
    state.update(
        genres=[g for g in get.getlist("genre") if g],
        episodes_min=get.get("episodes_min", ""),
        episodes_max=get.get("episodes_max", ""),
        surprise=get.get("surprise", "") in ("1", "true", "on"),
        view=get.get("view", ""),
    )
    return state


@login_required
@require_GET
def my_recommendations(request: HttpRequest) -> HttpResponse:
    user = request.user
    show_adult = adult_visible(user=user)
    tabs = selectors.engine_tabs(user=user)
    has_input = selectors.has_taste_input(user=user)
    form = _form_state(request.GET)
    options = anime_filter_options(show_adult=show_adult)
    context = {
        "form": form,
        "tabs": tabs,
        "state": selectors.refresh_state_get(user=user),
        "has_input": has_input,
        "genre_options": genre_list(show_adult=show_adult),
        "type_options": options.media_types,
        "season_options": options.seasons,
        "year_options": anime_year_list(show_adult=show_adult),
        "status_options": options.statuses,
        "filters_active": any(
            form[k] for k in ("type", "season", "year", "status", "min_score", "genres")
        )
        or any(form[k] for k in ("episodes_min", "episodes_max", "surprise")),
    }
    context["cold_start"] = selectors.recommendations_cold_start(tabs=tabs)
    if context["cold_start"]:
        # Nothing stored yet: a new member, or a first refresh still on its way.
        context["popular"] = selectors.popular_start(user=user)
        return render(request, "recommender/my_recommendations.html", context)
    if form["view"] == "compare":
        context["columns"] = selectors.engines_side_by_side(
            user=user, tabs=tabs, per_engine=COMPARE_PER_ENGINE
        )
        return render(request, "recommender/my_recommendations.html", context)
    params = RecommendationQueryInput(data=request.GET)
    if not params.is_valid():
        context["errors"] = [(k.replace("_", " "), v) for k, v in params.errors.items()]
        return render(request, "recommender/my_recommendations.html", context, status=400)
    filters = params.to_filters()
    page = selectors.user_recommendation_list(user=user, filters=filters)
    plan = selectors.user_recommendation_list(
        user=user,
        filters=selectors.RecommendationFilters(
            engine=page.engine, section=selectors.PLAN, limit=PLAN_STRIP
        ),
    )
    context.update(page=page, engine=page.engine, plan=plan)
    return render(request, "recommender/my_recommendations.html", context)


def _act(user, mal_id: int, action: str, score: str) -> str:
    """Save one card action through the list service; returns what to tell the member."""
    anime = Anime.objects.filter(mal_id=mal_id).first()
    if anime is None:
        raise Http404("No anime with this id.")
    if action not in ACTIONS:
        raise ValidationError({"action": [f"Choose one of: {', '.join(ACTIONS)}."]})
    entry = list_entry_get(user=user, mal_id=mal_id)
    if action == "rate":
        try:
            value = int(score)
        except (TypeError, ValueError):
            raise ValidationError({"score": ["Pick a score from 1 to 10."]}) from None
        list_services.list_entry_set(
            user=user, mal_id=mal_id, status=ListEntry.Status.COMPLETED, score=value
        )
        return f"Rated “{anime.title}” {value}/10."
    if action == "plan":
        list_services.list_entry_set(
            user=user,
            mal_id=mal_id,
            status=ListEntry.Status.PLAN_TO_WATCH,
            score=entry.score if entry else None,
        )
        return f"Added “{anime.title}” to plan to watch."
    list_services.list_entry_set(
        user=user,
        mal_id=mal_id,
        status=entry.status if entry else "",
        score=entry.score if entry else None,
        not_interested=True,
    )
    return f"“{anime.title}” won’t be suggested again."


@login_required
@require_POST
def recommendation_act(request: HttpRequest, mal_id: int) -> HttpResponse:
    """One click on a card. With JavaScript: the card to show instead (or an empty answer
    when the list is used up), with the message in a header; without: back to the page."""
    post = request.POST
    try:
        message, ok = _act(request.user, mal_id, post.get("action", ""), post.get("score")), True
    except ValidationError as exc:
        errors = " ".join(m for msgs in exc.message_dict.values() for m in msgs)
        message, ok = f"Not saved: {errors}", False
    back = post.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("recommender:my-recommendations")
    if not _is_fetch(request):
        (messages.success if ok else messages.error)(request, message)
        return redirect(back)
    if not ok:
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    shown = {int(m) for m in post.get("shown", "").split(",") if m.strip().isdigit()}
    shown.add(mal_id)
    query = QueryDict(back.partition("?")[2])
    card = None
    if post.get("mode") == "popular":
        fresh = selectors.popular_start(user=request.user, limit=len(shown) + 1)
        anime = next((a for a in fresh if a.mal_id not in shown), None)
        if anime is not None:
            card = selectors.popular_card(anime, 0)
    else:
        params = RecommendationQueryInput(data=query)
        if params.is_valid():
            card = selectors.user_recommendation_next(
                user=request.user, filters=params.to_filters(), shown=shown
            )
    return render(
        request,
        "recommender/_rec_reply.html",
        {"rec": card, "message": message, "mode": post.get("mode", ""), "next": back},
    )
