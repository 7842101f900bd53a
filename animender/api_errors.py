"""One place that turns service errors into 4xx JSON for the API."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from animender.runs import RunAlreadyActive

from .errors import Conflict, ServiceUnavailable


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    if isinstance(exc, RunAlreadyActive):
        body = {"detail": str(exc)}
        if exc.active is not None:
            body["active_run"] = exc.active.pk
        return Response(body, status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, Conflict):
        return Response({"detail": str(exc), "code": exc.code}, status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, ServiceUnavailable):
        return Response(
            {"detail": str(exc), "code": "service_unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "300"},
        )
    elif isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    return drf_exception_handler(exc, context)
