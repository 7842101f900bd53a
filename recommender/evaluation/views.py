"""Pages of the recommender: the public Engines page (offline evaluation, staff re-run)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from recommender.engines.selectors import engine_status_list
from recommender.evaluation.runs import (
    EvaluationBusyError,
    evaluation_report,
    evaluation_run_active,
    evaluation_run_enqueue,
    evaluation_run_latest,
)
from recommender.ml.registry import ENGINES
from recommender.models import EvaluationRun


def engines_page(request: HttpRequest) -> HttpResponse:
    latest = evaluation_run_latest()
    failed = EvaluationRun.objects.filter(state=EvaluationRun.State.FAILED).first()
    return render(
        request,
        "recommender/engines.html",
        {
            "latest": latest,
            "report": evaluation_report(latest, served=frozenset(ENGINES)) if latest else None,
            "active": evaluation_run_active(),
            "last_failed": failed if failed and (not latest or failed.pk > latest.pk) else None,
            "served": engine_status_list(),
        },
    )


@require_POST
@staff_member_required
def evaluation_start(request: HttpRequest) -> HttpResponse:
    quick = request.POST.get("mode") == "quick"
    try:
        run = evaluation_run_enqueue(requested_by=request.user, quick=quick, trigger="manual")
    except EvaluationBusyError as exc:
        messages.warning(request, f"Not started: {exc}.")
    else:
        messages.success(request, f"Evaluation #{run.pk} queued.")
    return redirect("recommender:engines")
