from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

ENGINES = ["popularity", "ease", "knn_baseline", "watchlist_nn"]


@pytest.mark.django_db
def test_evaluate_on_community_data_prints_table_and_writes_json(mini_data, tmp_path, capsys):
    call_command("import_catalog", str(mini_data), "--no-progress")
    call_command("import_ratings", str(mini_data / "ratings.csv"))
    out = tmp_path / "eval.json"
    plot = tmp_path / "ndcg.png"
    call_command(
        "evaluate",
        "--quick",
        "--engines",
        *ENGINES,
        "--json",
        str(out),
        "--plot",
        str(plot),
        "--sample",
        "50",
    )
    table = capsys.readouterr().out
    results = json.loads(out.read_text())
    for engine in ENGINES:
        assert engine in table
        assert 0 <= results[engine]["ndcg@10"] <= 1
    # A learned model must beat popularity on the same split.
    assert results["ease"]["ndcg@10"] > results["popularity"]["ndcg@10"]
    assert results["knn_baseline"]["rating_rmse"] < 1.6
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.django_db
def test_evaluate_without_data_is_a_clear_error():
    with pytest.raises(CommandError, match="No community ratings"):
        call_command("evaluate", "--quick")
