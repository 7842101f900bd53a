"""Who may call an API view and how often: shared by every app's ``/api/me/...`` views.

``MeApi`` is the base of any member-only view (accounts, labeling, recommendations): token
or session authentication, anonymous callers get 401 (the token scheme is asked first, so
DRF answers with ``WWW-Authenticate``), and a per-member throttle answers 429 with JSON.
Views must scope every query to ``request.user``; there are no object-level grants.
"""

from __future__ import annotations

from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from accounts.authentication import ApiTokenAuthentication


class _SettingsRate:
    """Read the rate on each request: DRF copies the rates once at import, which would make
    ``REST_FRAMEWORK`` overrides (tests, per-deployment tuning at runtime) silently ignored."""

    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class MeRateThrottle(_SettingsRate, UserRateThrottle):
    """Per member (keyed on the user id), across every /api/me/ view."""

    scope = "me"


class ImportRateThrottle(_SettingsRate, UserRateThrottle):
    """Starting imports: each one may call MAL, so far fewer than ordinary requests."""

    scope = "me_import"

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)


class TokenObtainRateThrottle(_SettingsRate, AnonRateThrottle):
    """Password guessing through the token endpoint: per client IP."""

    scope = "token_obtain"


class MeApi(APIView):
    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [MeRateThrottle]
