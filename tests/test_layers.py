"""The apps' import graph points one way; ``.ci/check_layers.py`` keeps it so."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def layers():
    spec = importlib.util.spec_from_file_location("check_layers", REPO / ".ci" / "check_layers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layers"] = module
    spec.loader.exec_module(module)
    return module


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_project_has_no_upward_import(layers):
    assert layers.violations() == []


def test_an_upward_import_inside_a_function_is_caught(layers, tmp_path):
    root = _tree(
        tmp_path,
        {
            "accounts/services.py": "def f():\n    from labeling.services import label_save\n",
            "labeling/services.py": "from accounts.models import Profile\n",
        },
    )
    problems = layers.violations(root)
    assert len(problems) == 1
    assert "accounts.services imports labeling.services.label_save" in problems[0]


def test_engines_may_not_import_personal_but_personal_may_import_engines(layers, tmp_path):
    root = _tree(
        tmp_path,
        {
            "recommender/engines/services.py": "from recommender.personal import services\n",
            "recommender/personal/services.py": "from recommender.engines import selectors\n",
        },
    )
    problems = layers.violations(root)
    assert [p.split(":")[0] for p in problems] == ["recommender/engines/services.py"]


def test_ml_imports_no_app_and_no_django(layers, tmp_path):
    root = _tree(
        tmp_path,
        {
            "recommender/ml/a.py": "import django.conf\nfrom recommender.ml import b\n",
            "recommender/ml/b.py": "from catalog.models import Anime\n",
        },
    )
    problems = sorted(layers.violations(root))
    assert len(problems) == 2
    assert problems[0].startswith("recommender/ml/a.py:1") and "django" in problems[0]
    assert problems[1].startswith("recommender/ml/b.py:1")


def test_only_wiring_imports_wiring(layers, tmp_path):
    root = _tree(
        tmp_path,
        {
            "recommender/personal/services.py": "from recommender.tasks import t\n",
            "recommender/urls.py": "from recommender.personal import views\n",
        },
    )
    problems = layers.violations(root)
    assert len(problems) == 1 and "only wiring" in problems[0]


def test_the_ml_package_has_no_import_cycle(layers):
    assert layers.ml_cycles() == []


def test_an_ml_import_cycle_through_a_function_is_caught(layers, tmp_path):
    root = _tree(
        tmp_path,
        {
            "recommender/ml/__init__.py": "",
            "recommender/ml/evaluation.py": "def f():\n    from .hybrid import Ranker\n",
            "recommender/ml/hybrid.py": "def g():\n    from .evaluation import ndcg\n",
            "recommender/ml/metrics.py": "import numpy\n",
        },
    )
    (cycle,) = layers.ml_cycles(root)
    assert "recommender.ml.evaluation -> recommender.ml.hybrid" in cycle
