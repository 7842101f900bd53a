"""The member's pages: list, list controls, import, export, settings, account deletion.
Each is login-only and reads or writes only ``request.user``'s rows."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from animender.errors import Conflict, ServiceUnavailable
from catalog.models import Anime
from catalog.selectors import adult_visible

from . import exports, imports, selectors, services
from .forms import (
    LIST_REMOVE,
    AccountDeleteForm,
    ListEntryForm,
    ListFilterForm,
    MalImportForm,
    ProfileForm,
    TokenCreateForm,
    XmlImportForm,
)
from .models import ListEntry

LIST_PAGE_SIZE = 50


def _is_fetch(request: HttpRequest) -> bool:
    # Set by static/js/list_controls.js (and htmx sends HX-Request): answer with the partial.
    return request.headers.get("X-Requested-With") == "fetch" or "HX-Request" in request.headers


def _add_form_errors(form, exc: ValidationError) -> None:
    for field, msgs in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, msgs)


@login_required
@require_GET
def my_list(request: HttpRequest) -> HttpResponse:
    form = ListFilterForm(request.GET)
    show_adult = adult_visible(user=request.user)
    context = {
        "form": form,
        "profile": selectors.profile_get(user=request.user),
        "counts": selectors.list_tab_counts(user=request.user, show_adult=show_adult),
        "stats": selectors.list_stats(user=request.user, show_adult=show_adult),
        "tabs": [("", "All"), *ListEntry.Status.choices, ("not_interested", "Not interested")],
        "sort_options": selectors.ListSort.CHOICES,
    }
    # Only a member with nothing at all (hidden adult titles count) is invited to import.
    context["list_empty"] = (
        not any(context["counts"].values()) and not context["stats"].hidden_adult
    )
    if not form.is_valid():
        context["errors"] = form.errors
        return render(request, "accounts/my_list.html", context, status=400)
    f = form.cleaned_data
    qs = selectors.list_entry_queryset(
        user=request.user,
        tab=f["status"],
        q=f["q"],
        genre=f["genre"],
        sort=f["sort"] or selectors.ListSort.UPDATED,
        show_adult=show_adult,
    )
    page = Paginator(qs, LIST_PAGE_SIZE).get_page(f["page"] or 1)
    context.update(page_obj=page, entries=page.object_list, tab=f["status"])
    return render(request, "accounts/my_list.html", context)


@login_required
@require_POST
def list_entry_set(request: HttpRequest, mal_id: int) -> HttpResponse:
    """The controls on title pages, cards and the list: without JavaScript a normal form
    post that redirects back; with it, a fetch that gets the re-rendered controls."""
    anime = Anime.objects.filter(mal_id=mal_id).first()
    if anime is None:
        raise Http404("No anime with this id.")
    form = ListEntryForm(request.POST)
    entry = None
    if form.is_valid():
        data = form.cleaned_data
        episodes = data["episodes_watched"]
        remove = data["status"] == LIST_REMOVE
        try:
            entry = services.list_entry_set(
                user=request.user,
                mal_id=mal_id,
                status=data["status"],
                score=data["score"],
                not_interested=data["not_interested"],
                remove=remove,
                **({} if episodes is None else {"episodes_watched": episodes}),
            )
        except ValidationError as exc:
            _add_form_errors(form, exc)
    ok = not form.errors
    if _is_fetch(request):
        # On an error the controls show what is stored, with the message beside them.
        entry = selectors.list_entry_get(user=request.user, mal_id=mal_id)
        return render(
            request,
            "accounts/_list_controls_form.html",
            {
                "anime": anime,
                "entry": entry,
                "form_errors": form.errors,
                "saved": ok,
                "compact": request.POST.get("compact") == "1",
                "next": request.POST.get("next", ""),
            },
            status=200 if ok else 400,
        )
    if ok:
        messages.success(
            request,
            f"Saved “{anime.title}”." if entry else f"Removed “{anime.title}” from your list.",
        )
    else:
        errors = "; ".join(str(m) for msgs in form.errors.values() for m in msgs)
        messages.error(request, f"Not saved: {errors}")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("catalog:anime-detail", args=[mal_id])
    return redirect(target)


@login_required
@require_GET
def list_export(request: HttpRequest, fmt: str) -> HttpResponse:
    return exports.list_export_response(user=request.user, fmt=fmt)


@login_required
def import_start(request: HttpRequest) -> HttpResponse:
    profile = selectors.profile_get(user=request.user)
    mal_form = MalImportForm(initial={"mal_username": profile.mal_username})
    xml_form = XmlImportForm()
    status = 200
    if request.method == "POST":
        try:
            if "file" in request.FILES or request.POST.get("kind") == "xml":
                xml_form = XmlImportForm(request.POST, request.FILES)
                if xml_form.is_valid():
                    run = imports.import_run_start_xml(
                        user=request.user, upload=xml_form.cleaned_data["file"]
                    )
                    return redirect("accounts:import-detail", run_id=run.pk)
            else:
                mal_form = MalImportForm(request.POST)
                if mal_form.is_valid():
                    name = mal_form.cleaned_data["mal_username"]
                    run = imports.import_run_start_mal(user=request.user, mal_username=name)
                    if not profile.mal_username:
                        services.profile_update(user=request.user, mal_username=name.strip())
                    return redirect("accounts:import-detail", run_id=run.pk)
        except ValidationError as exc:
            _add_form_errors(xml_form if "file" in exc.message_dict else mal_form, exc)
        except (Conflict, ServiceUnavailable) as exc:
            messages.error(request, str(exc))
        status = 400
    runs = selectors.import_run_list(user=request.user)[:10]
    return render(
        request,
        "accounts/import.html",
        {"mal_form": mal_form, "xml_form": xml_form, "runs": runs},
        status=status,
    )


@login_required
@require_GET
def import_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.import_run_get(user=request.user, run_id=run_id)
    if run is None:
        raise Http404("No such import.")
    return render(
        request,
        "accounts/import_detail.html",
        {"run": run, "max_attempts": imports.IMPORT_RUNS.max_attempts()},
    )


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    profile = services.profile_get_or_create(user=request.user)
    form = ProfileForm(instance=profile)
    status = 200
    if request.method == "POST":
        form = ProfileForm(request.POST, instance=profile)
        if form.is_valid():
            try:
                services.profile_update(user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_form_errors(form, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("accounts:settings")
        status = 400
    return _render_settings(request, form=form, status=status)


def _render_settings(request, *, form=None, token_form=None, new_key=None, status=200):
    return render(
        request,
        "accounts/settings.html",
        {
            "form": form or ProfileForm(instance=services.profile_get_or_create(user=request.user)),
            "token_form": token_form or TokenCreateForm(),
            "tokens": selectors.api_token_list(user=request.user),
            "new_key": new_key,
        },
        status=status,
    )


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        return _render_settings(request, token_form=form, status=400)
    token, key = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
    # Rendered, not redirected: the key is shown this once and never stored in clear.
    response = _render_settings(request, new_key={"name": token.name, "key": key})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if not services.api_token_revoke(user=request.user, token_id=token_id):
        raise Http404("No such token.")
    messages.success(request, "Token revoked.")
    return redirect("accounts:settings")


@login_required
def account_delete(request: HttpRequest) -> HttpResponse:
    form = AccountDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.account_delete(user=request.user, password=form.cleaned_data["password"])
        except ValidationError as exc:
            _add_form_errors(form, exc)
        else:
            logout(request)
            messages.success(request, "Your account and everything in it has been deleted.")
            return redirect("catalog:home")
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/delete.html", {"form": form}, status=status)


@require_GET
def public_list(request: HttpRequest, username: str) -> HttpResponse:
    """A member's list for others to read, only when they made it public (private by
    default); a private list is a 404, so the page does not even confirm the member exists."""
    owner = get_user_model().objects.filter(username=username, is_active=True).first()
    if owner is None:
        raise Http404("No such list.")
    profile = selectors.profile_get(user=owner)
    if profile.list_private and request.user != owner:
        raise Http404("No such list.")
    form = ListFilterForm(request.GET)
    f = form.cleaned_data if form.is_valid() else {"status": "", "sort": "", "page": 1}
    show_adult = adult_visible(user=request.user)
    qs = selectors.list_entry_queryset(
        user=owner,
        tab=f["status"] if f["status"] != selectors.NOT_INTERESTED_TAB else "",
        sort=f["sort"] or selectors.ListSort.SCORE,
        show_adult=show_adult,
    )
    page = Paginator(qs, LIST_PAGE_SIZE).get_page(f["page"] or 1)
    return render(
        request,
        "accounts/public_list.html",
        {
            "owner": owner,
            "tab": f["status"],
            "tabs": [("", "All"), *ListEntry.Status.choices],
            "counts": selectors.list_tab_counts(user=owner, show_adult=show_adult),
            "stats": selectors.list_stats(user=owner, show_adult=show_adult),
            "page_obj": page,
            "entries": page.object_list,
            "public": True,
            # The owner may open the page while the list is private; say which it is.
            "list_private": profile.list_private,
        },
    )
