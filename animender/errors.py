"""Small app errors that services raise and ``animender.api_errors`` turns into HTTP.

Kept free of DRF imports: authentication classes load while DRF itself is importing.
"""

from __future__ import annotations


class Conflict(Exception):
    """The request clashes with the current state (a duplicate, an import already running):
    HTTP 409 with ``{"detail": ..., "code": ...}``."""

    def __init__(self, message: str, *, code: str = "conflict"):
        super().__init__(message)
        self.code = code


class ServiceUnavailable(Exception):
    """An outside service we depend on (MyAnimeList) cannot be used now: HTTP 503."""
