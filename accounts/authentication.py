"""API token authentication: ``Authorization: Token <key>`` (or ``Bearer <key>``)."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from . import selectors, services

KEYWORDS = ("token", "bearer")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """Looks the key up by its SHA-256; a revoked or unknown key is a 401, never a fallback."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in KEYWORDS:
            return None  # not ours: session authentication (or anonymous) applies
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: use 'Token <key>'."
            )
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = selectors.api_token_get_by_key(key=key)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        services.api_token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Token realm="api"'
