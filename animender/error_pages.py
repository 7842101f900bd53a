"""The site's own 404 and 500 pages, in its look, also while DEBUG is on (``make run``).

Django shows its technical pages while DEBUG is on; the quick start runs with DEBUG on,
so a self-hoster's visitors would meet a traceback. The middleware answers exceptions
raised by views itself (the traceback still goes to the log); ``handler404``/``handler500``
cover everything else when DEBUG is off. The API keeps answering JSON.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader

log = logging.getLogger("django.request")


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: the site's page, saying what was not found when the view said it."""
    message = str(exception) if isinstance(exception, Http404) and exception.args else ""
    return render(request, "404.html", {"message": message}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: rendered without the request, so it works while the database is down."""
    return HttpResponse(loader.get_template("500.html").render({}), status=500)


class ErrorPagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if isinstance(exception, Http404):
            return None if _is_api(request) else page_not_found(request, exception)
        if not isinstance(exception, Exception) or _expected(exception):
            return None  # 400/403 and friends: Django's own handling
        log.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=(type(exception), exception, exception.__traceback__),
        )
        if _is_api(request):
            return JsonResponse({"detail": "Server error."}, status=500)
        return server_error(request)


def _expected(exception: Exception) -> bool:
    from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation

    return isinstance(exception, BadRequest | PermissionDenied | SuspiciousOperation)
