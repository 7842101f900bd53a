from __future__ import annotations

import yaml
from django.core.management import call_command


def test_openapi_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    paths = yaml.safe_load(out.read_text())["paths"]
    for path in (
        "/api/anime/",
        "/api/anime/{mal_id}/",
        "/api/recommendations/",
        "/api/engines/",
        "/api/training-runs/",
    ):
        assert path in paths
