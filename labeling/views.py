"""Labeling pages: the card queue and "my model". Validate, call a selector/service, render.

The card page works without JavaScript (each button posts a form); ``labeling.js``
replaces that with keyboard shortcuts and the JSON API so the next card appears without a
reload.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.selectors import profile_get
from labeling.selectors import label_queue_for_user, labeling_progress
from labeling.services import label_delete, label_save
from labeling.taste import charts
from labeling.taste.runs import TASTE_RUNS, taste_training_request
from labeling.taste.selectors import taste_example_counts, taste_run_list

from .api import QueueTitleOutput
from .models import Label, TasteTrainingRun

PREFETCH = 10
REASONS = {
    "cold_start": "Popular pick to get started",
    "uncertainty": "Your answer here teaches your model the most",
    "exploration": "Something different, to explore",
}


def _error_text(exc: ValidationError) -> str:
    return (
        " ".join(m for messages_ in exc.message_dict.values() for m in messages_)
        if hasattr(exc, "error_dict")
        else " ".join(exc.messages)
    )


@login_required
def label_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":  # the no-JavaScript path: one form per answer
        try:
            label_save(
                user=request.user,
                mal_id=int(request.POST.get("mal_id", "0") or 0),
                answer=request.POST.get("answer", ""),
                reason=request.POST.get("reason", ""),
            )
        except (ValidationError, ValueError) as exc:
            text = _error_text(exc) if isinstance(exc, ValidationError) else "Bad title id."
            messages.error(request, text)
        return redirect("labeling:label")
    queue = label_queue_for_user(user=request.user, limit=PREFETCH)
    return render(
        request,
        "labeling/label.html",
        {
            "queue": queue,
            "card": queue.items[0] if queue.items else None,
            "card_reason": REASONS.get(queue.items[0].reason, "") if queue.items else "",
            "queue_data": QueueTitleOutput(queue.items, many=True).data,
            "progress": labeling_progress(user=request.user),
            "reasons": REASONS,
            "answers": Label.Answer,
            "retrain_every": settings.TASTE_RETRAIN_EVERY,
        },
    )


@login_required
@require_POST
def label_undo(request: HttpRequest) -> HttpResponse:
    last = Label.objects.filter(user=request.user).order_by("-created_at", "-pk").first()
    if last is None:
        messages.info(request, "Nothing to undo.")
    else:
        label_delete(label=last)
        messages.success(request, f"Took back your answer about {last.anime.title}.")
    return redirect("labeling:label")


@login_required
def model_page(request: HttpRequest) -> HttpResponse:
    runs = list(taste_run_list(user=request.user)[:200])
    done = [r for r in runs if r.state == TasteTrainingRun.State.DONE]
    latest = done[0] if done else None
    context = {
        "runs": runs[:20],
        "latest": latest,
        # The newest run failed for good: say why and how many workers tried it.
        "last_failed": runs[0] if runs and runs[0].state == TasteTrainingRun.State.FAILED else None,
        "max_attempts": TASTE_RUNS.max_attempts(),
        "progress": labeling_progress(user=request.user),
        "learning_curve": charts.learning_curve_svg(list(reversed(done))),
        "retrain_every": settings.TASTE_RETRAIN_EVERY,
        "labels_from_list": profile_get(user=request.user).labels_from_list,
    }
    if latest is None:
        context["ready_likes"], context["ready_dislikes"] = taste_example_counts(user=request.user)
    else:
        context["pr_curve"] = charts.pr_curve_svg(
            latest.metrics.get("pr_curve") or {}, latest.metrics.get("base_rate")
        )
        explain = latest.metrics.get("explain") or {}
        context["push_up"] = charts.weights_svg(explain.get("up", []), positive=True)
        context["push_down"] = charts.weights_svg(explain.get("down", []), positive=False)
    return render(request, "labeling/model.html", context)


@login_required
@require_POST
def model_train(request: HttpRequest) -> HttpResponse:
    try:
        taste_training_request(user=request.user, trigger=TasteTrainingRun.Trigger.MANUAL)
    except ValidationError as exc:
        messages.error(request, f"Can't train yet: {_error_text(exc)}")
    else:
        messages.success(request, "Training queued: this page shows the run when it is done.")
    return redirect("labeling:model")
