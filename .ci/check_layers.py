#!/usr/bin/env python3
"""Fail when a module imports a layer above its own (``make lint`` and a test run it).

The apps depend one way, lowest first:

    animender <- catalog <- accounts <- recommender.engines <- recommender.evaluation
              <- labeling <- recommender.personal

A module may import its own layer and any lower one, at the top of the file or inside a
function alike (an import inside a function is still a dependency). ``recommender.ml`` is
plain Python: it imports no app and no Django. Wiring modules (URL confs, the Celery task
index, admin, app configs that register hooks) may import any layer, and only wiring may
import them. A lower layer that must tell a higher one something fires a hook
(``animender/hooks.py``) that the higher one registers in ``AppConfig.ready()``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("animender", "catalog", "accounts", "recommender", "labeling")

# Lowest first; a module belongs to the longest prefix that names it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("animender", ("animender",)),
    ("catalog", ("catalog",)),
    ("accounts", ("accounts",)),
    (
        "engines",
        (
            "recommender",
            "recommender.engines",
            "recommender.models",
            "recommender.templatetags.recommender_tags",
            "recommender.management.commands.train_models",
            "recommender.management.commands.import_ratings",
        ),
    ),
    ("evaluation", ("recommender.evaluation", "recommender.management.commands.evaluate")),
    ("labeling", ("labeling",)),
    ("personal", ("recommender.personal", "recommender.templatetags.personal_tags")),
]
ML = "recommender.ml"
# The project package's __init__ (the stock Celery import) is wiring too: matched exactly.
WIRING_EXACT = ("animender",)
WIRING = (
    "animender.urls",
    "animender.celery",
    "animender.settings",
    "animender.wsgi",
    "animender.asgi",
    "recommender.urls",
    "recommender.api_urls",
    "recommender.tasks",
    "recommender.admin",
    "recommender.apps",
    "recommender.management.commands.bootstrap",
    "labeling.apps",
)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def is_wiring(module: str) -> bool:
    return module in WIRING_EXACT or any(_within(module, w) for w in WIRING)


def layer_of(module: str) -> int | None:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if _within(module, p) and len(p) > best:
                best, rank = len(p), i
    return rank


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """``(line, imported module or module.name)`` for every import in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from recommender import personal" imports recommender.personal
            found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
    return found


def violations(root: Path = ROOT) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] not in APPS or "migrations" in rel.parts:
            continue
        module = module_name(path, root)
        wiring = is_wiring(module)
        mine = layer_of(module)
        for line, target in imports_of(path, module):
            top = target.split(".")[0]
            where = f"{rel}:{line}: {module} imports {target}"
            if _within(module, ML):
                if top in APPS and not _within(target, ML) or top == "django":
                    problems.append(f"{where} (recommender.ml imports no app and no Django)")
                continue
            if top not in APPS or _within(target, ML):
                continue
            parent = target.rpartition(".")[0]
            if is_wiring(target) or (parent not in WIRING_EXACT and is_wiring(parent)):
                if not wiring:
                    problems.append(f"{where} (only wiring imports a wiring module)")
                continue
            theirs = layer_of(target)
            if not wiring and theirs is not None and mine is not None and theirs > mine:
                problems.append(
                    f"{where} (layer {LAYERS[mine][0]} imports the higher layer "
                    f"{LAYERS[theirs][0]}: fire a hook from animender/hooks.py instead)"
                )
    return problems


def ml_cycles(root: Path = ROOT) -> list[str]:
    """Import cycles among ``recommender.ml`` modules (a model module and the evaluation
    harness importing each other, even inside functions, is a design knot)."""
    paths = sorted((root / "recommender" / "ml").rglob("*.py"))
    graph: dict[str, set[str]] = {module_name(p, root): set() for p in paths}
    for path in paths:
        module = module_name(path, root)
        for _, target in imports_of(path, module):
            for candidate in (target, target.rpartition(".")[0]):
                if candidate in graph and candidate not in (ML, module):
                    graph[module].add(candidate)
                    break
    cycles, seen = [], set()

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycle = stack[stack.index(nxt) :] + [nxt]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    cycles.append(" -> ".join(cycle) + " (import cycle in recommender.ml)")
            elif len(stack) < 50:
                visit(nxt, [*stack, nxt])

    for start in sorted(graph):
        visit(start, [start])
    return cycles


def main() -> int:
    problems = violations() + ml_cycles()
    for p in problems:
        print(p)
    print(f"import layers: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
