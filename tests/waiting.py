"""Waiting in tests for what another thread or process does: poll against a deadline.

A fixed ``time.sleep`` is a bet that the other side is done by then; on a loaded two-core
machine the bet is sometimes lost (a flaky failure), and where it is won it wastes the
rest of the sleep. Poll for the condition itself instead, and fail with a message naming
what never happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], *, timeout: float, interval: float = 0.05, what: str
) -> T:
    """Call ``predicate()`` every ``interval`` seconds until it returns something truthy,
    and return that. After ``timeout`` seconds raise AssertionError naming ``what``.

    The predicate is always asked at least once, and once more at the deadline, so a slow
    poll cannot miss a condition that came true while it slept.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            last = repr(value)
            if len(last) > 200:
                last = last[:200] + "..."
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last})")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
