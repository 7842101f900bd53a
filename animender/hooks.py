"""How a lower layer tells a higher one that something happened, without importing it.

Apps depend one way (animender <- catalog <- accounts <- recommender.engines <- labeling <-
recommender.personal). When accounts must say "this member's list changed", the apps that
care register a handler in their ``AppConfig.ready()`` and accounts calls :func:`hook_fire`.
Every hook is named here with what it carries, so the flows read in one place; handlers run
synchronously, in registration order, inside the caller's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

# A member's list, labels or taste model changed: ``user_id``, ``trigger`` (a
# RecommendationRefresh trigger: "list", "import", "label", "taste").
MEMBER_INPUTS_CHANGED = "member_inputs_changed"
# A list import finished and its entries are saved: ``user``.
LIST_IMPORTED = "list_imported"
# A member's rows are gone (after commit): ``user_id``. Handlers remove files on disk.
ACCOUNT_DELETED = "account_deleted"
# A global engine published a new version (after commit): ``engine``.
ENGINE_PUBLISHED = "engine_published"

HOOKS = frozenset({MEMBER_INPUTS_CHANGED, LIST_IMPORTED, ACCOUNT_DELETED, ENGINE_PUBLISHED})

_handlers: dict[str, list[Callable[..., object]]] = defaultdict(list)


def hook_register(name: str, handler: Callable[..., object]) -> None:
    """Add ``handler`` to ``name``; registering the same function twice keeps one."""
    if name not in HOOKS:
        raise ValueError(f"unknown hook {name!r}")
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


def hook_fire(name: str, **kwargs) -> None:
    if name not in HOOKS:
        raise ValueError(f"unknown hook {name!r}")
    for handler in list(_handlers[name]):
        handler(**kwargs)
