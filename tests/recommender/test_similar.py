"""Similar titles on the title page and GET /api/anime/{mal_id}/similar/."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from catalog.franchises import franchise_collapse, franchise_index, franchise_index_invalidate
from catalog.models import Anime
from recommender.engines import selectors
from recommender.engines.selectors import model_load
from recommender.engines.services import training_run_create, training_run_execute
from recommender.ml import artifacts, neighbours
from tests.recommender.fast_params import FAST_ENGINE_PARAMS

pytestmark = pytest.mark.django_db

STEINS_GATE, STEINS_GATE_MOVIE, STEINS_GATE_SPECIAL = 9253, 11577, 10863
DEATH_NOTE = 1535
FAST = FAST_ENGINE_PARAMS


@pytest.fixture
def catalog(mini_data, settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    call_command("import_catalog", str(mini_data), "--no-progress")
    franchise_index_invalidate()
    selectors._cache.clear()
    yield
    franchise_index_invalidate()
    selectors._cache.clear()


@pytest.fixture
def community(catalog, mini_data):
    call_command("import_ratings", str(mini_data / "ratings.csv"))


def train(engine: str) -> None:
    run = training_run_create(engine=engine, trigger="test", params=FAST[engine])
    assert training_run_execute(run_id=run.pk).state == "done"


def similar(client, mal_id: int, **params):
    response = client.get(f"/api/anime/{mal_id}/similar/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_similar_titles_come_from_knn_neighbours_one_per_franchise(community, client):
    train("knn_baseline")
    body = similar(client, STEINS_GATE, limit=10)
    assert body["source"] == "knn_baseline" and body["version"]
    ids = [r["mal_id"] for r in body["results"]]
    assert len(ids) == 10
    index = franchise_index(show_adult=False)
    # Never its own franchise, and one card per other franchise.
    assert not set(ids) & set(index.members(STEINS_GATE))
    assert len({index.franchise_id(m) for m in ids}) == len(ids)
    # The best neighbour outside the franchise leads (as its series' entry point).
    loaded = model_load(engine="knn_baseline")
    idx, sims = loaded.model.similar_items(loaded.index_of[STEINS_GATE], n=50)
    outside = [int(loaded.item_ids[i]) for i in idx]
    outside = [m for m in outside if m not in index.members(STEINS_GATE)]
    assert ids[0] == index.entry_point(outside[0])
    assert body["results"][0]["similarity"] > 0
    for r in body["results"]:
        assert index.entry_point(r["mal_id"]) == r["mal_id"]  # anonymous: entry points only
    franchise = [f["mal_id"] for f in body["franchise"]]
    assert franchise[0] == STEINS_GATE
    assert {STEINS_GATE_MOVIE, STEINS_GATE_SPECIAL} <= set(franchise)


def test_watchlist_network_answers_when_knn_is_not_trained(community, client):
    train("watchlist_nn")
    body = similar(client, DEATH_NOTE, limit=5)
    assert body["source"] == "watchlist_nn"
    assert len(body["results"]) == 5 and DEATH_NOTE not in [r["mal_id"] for r in body["results"]]


def test_without_any_model_titles_sharing_genres_stand_in(catalog, client):
    body = similar(client, DEATH_NOTE, limit=8)
    assert body["source"] == "genres" and body["version"] == ""
    genres = set(Anime.objects.get(mal_id=DEATH_NOTE).genres.values_list("name", flat=True))
    shared = [r["similarity"] for r in body["results"]]
    assert len(shared) == 8 and shared == sorted(shared, reverse=True)
    for r in body["results"]:
        theirs = set(Anime.objects.get(mal_id=r["mal_id"]).genres.values_list("name", flat=True))
        assert len(genres & theirs) == r["similarity"] >= 1


def test_title_page_shows_franchise_and_similar_titles_to_anonymous_visitors(community, client):
    train("knn_baseline")
    page = client.get(f"/anime/{STEINS_GATE_MOVIE}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Similar titles" in html and 'data-source="knn_baseline"' in html
    assert "The Steins;Gate franchise" in html and "Start here" in html
    assert f'New to this story? Start with <a href="/anime/{STEINS_GATE}/">' in html
    ours = html[html.index('id="franchise"') : html.index("</main>")]
    assert "None" not in ours and "Unknown" not in ours


def test_title_page_without_models_still_renders_similar_titles(catalog, client):
    html = client.get(f"/anime/{DEATH_NOTE}/").content.decode()
    assert "Similar titles" in html and 'data-source="genres"' in html
    assert "Sharing the most genres" in html


def test_similar_api_errors_are_json(catalog, client):
    assert client.get("/api/anime/999999999/similar/").status_code == 404
    bad = client.get(f"/api/anime/{DEATH_NOTE}/similar/", {"limit": 0})
    assert bad.status_code == 400 and "limit" in bad.json()


def test_adult_titles_are_neither_shown_nor_similar(catalog, client, settings):
    adult = Anime.objects.filter(is_adult=True).first()
    assert adult is not None
    assert client.get(f"/api/anime/{adult.mal_id}/similar/").status_code == 404
    ids = {r["mal_id"] for r in similar(client, DEATH_NOTE, limit=50)["results"]}
    assert not ids & set(Anime.objects.filter(is_adult=True).values_list("mal_id", flat=True))


def test_similar_endpoint_is_documented_with_an_example(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    op = schema["paths"]["/api/anime/{mal_id}/similar/"]["get"]
    assert op["operationId"] == "anime_similar_list"
    assert "examples" in op["responses"]["200"]["content"]["application/json"]
    assert {p["name"] for p in op["parameters"]} >= {"mal_id", "limit"}


# -- served from the neighbours ranked at training, never from a loaded model ----------


def expected_cards(ranking: list[tuple[int, float]], mal_id: int, n: int) -> list[tuple]:
    """What a title's similar titles should be from a model's own ranking of its
    neighbours: titles the catalog shows, its own franchise left out, one card per
    franchise, from the first ``n`` x 6 neighbours."""
    index = franchise_index(show_adult=False)
    own = set(index.members(mal_id))
    shown = set(Anime.objects.filter(is_adult=False).values_list("mal_id", flat=True))
    ranked = [(m, s) for m, s in ranking if m in shown][: n * 6]
    cards = franchise_collapse(
        ((m, s) for m, s in ranked if m not in own), watched=(), exclude=own, index=index
    )
    return [(c.mal_id, c.score) for c in cards if c.mal_id in shown][:n]


def similar_on_page(html: str) -> list[int]:
    section = html[html.index('id="similar"') :]
    section = section[: section.index("</section>")]
    return [int(m) for m in re.findall(r'href="/anime/(\d+)/"', section)]


def test_similar_titles_are_the_knn_ranking_served_without_loading_the_model(community, client):
    train("knn_baseline")
    selectors._cache.clear()  # whatever the training's follow-ups loaded
    page = client.get(f"/anime/{STEINS_GATE}/")
    body = similar(client, STEINS_GATE, limit=50)
    # Neither the page nor the API loaded a model into this (web) process.
    assert selectors._cache == {}
    assert page.status_code == 200 and 'data-source="knn_baseline"' in page.content.decode()
    assert body["source"] == "knn_baseline"
    loaded = model_load(engine="knn_baseline")
    assert body["version"] == loaded.version
    idx, sims = loaded.model.similar_items(loaded.index_of[STEINS_GATE], n=len(loaded.item_ids))
    ranking = list(zip(loaded.item_ids[idx].tolist(), sims.tolist(), strict=True))
    want = expected_cards(ranking, STEINS_GATE, 50)
    assert len(want) >= 12
    got = [(r["mal_id"], r["similarity"]) for r in body["results"]]
    assert [m for m, _ in got] == [m for m, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-6)
    assert similar_on_page(page.content.decode()) == [m for m, _ in want][:12]


def test_watchlist_neighbours_are_served_without_loading_the_network(community, client):
    train("watchlist_nn")
    selectors._cache.clear()
    body = similar(client, DEATH_NOTE, limit=20)
    assert selectors._cache == {}
    assert body["source"] == "watchlist_nn"
    loaded = model_load(engine="watchlist_nn")
    n_items = len(loaded.item_ids)
    row = selectors.list_row(n_items, [loaded.index_of[DEATH_NOTE]], [1.0])
    idx, scores = loaded.model.recommend(row, n=n_items)
    ranking = list(zip(loaded.item_ids[idx[0]].tolist(), scores[0].tolist(), strict=True))
    want = expected_cards(ranking, DEATH_NOTE, 20)
    got = [(r["mal_id"], r["similarity"]) for r in body["results"]]
    assert len(got) == 20
    assert [m for m, _ in got] == [m for m, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5)


def test_a_version_saved_before_neighbours_were_stored_falls_back_to_genres(
    community, client, settings
):
    train("knn_baseline")
    version = artifacts.current_version(settings.MODEL_DIR, "knn_baseline")
    folder = artifacts.engine_dir(settings.MODEL_DIR, "knn_baseline") / version
    for name in (neighbours.ITEMS_FILE, neighbours.SCORES_FILE):
        (folder / name).unlink()
    selectors._cache.clear()
    body = similar(client, DEATH_NOTE, limit=8)
    page = client.get(f"/anime/{DEATH_NOTE}/").content.decode()
    assert body["source"] == "genres" and body["version"] == "" and len(body["results"]) == 8
    assert 'data-source="genres"' in page and "Sharing the most genres" in page
    assert selectors._cache == {}
    # The next training stores them again and is served from them.
    train("knn_baseline")
    assert similar(client, DEATH_NOTE, limit=8)["source"] == "knn_baseline"
