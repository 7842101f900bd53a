"""Pages as a new user meets them: no blanks, offered filters that find something, and
the site's own 404/500 pages (DEBUG on, as in `make run`, and off)."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from catalog import views
from catalog.models import Anime

from .factories import AnimeFactory

pytestmark = pytest.mark.django_db

BLANK_MARKS = ("None", "N/A", "Unknown", "–", ">?<")


def _facts(html: str) -> str:
    return html[html.index('<aside class="facts">') : html.index("</aside>")]


def test_a_csv_title_page_leaves_missing_facts_out(client, mini_data):
    call_command("import_catalog", str(mini_data), "--no-progress")
    Anime.objects.filter(mal_id=1).update(num_favorites=None, num_list_users=None)
    html = client.get("/anime/1/").content.decode()
    for mark in BLANK_MARKS:
        assert mark not in _facts(html), mark
        assert f">{mark}<" not in html, mark
    dts = re.findall(r"<dt>([^<]+)</dt>", html)
    # The CSV knows type, episodes, season, rating, genres and studios; not status,
    # airing dates, source or duration: those rows are left out, not "Unknown".
    assert dts[:4] == ["Type", "Episodes", "Premiered", "Rating"]
    assert {"Status", "Aired", "Source", "Duration"}.isdisjoint(dts)
    assert "Sunrise" in _facts(html)
    assert "Favorites" not in html and "Members" not in html


def test_a_full_mal_title_shows_every_fact(client):
    AnimeFactory(
        mal_id=7,
        title="Full Facts",
        status="currently_airing",
        start_date="2024-04-05",
        source="light_novel",
        average_episode_duration=1440,
        rating="pg_13",
        num_favorites=0,
        studios=["Bones"],
    )
    html = client.get("/anime/7/").content.decode()
    facts = _facts(html)
    assert "Currently airing" in facts and "2024-04-05 to now" in facts
    assert "Light novel" in facts and "24 min per ep." in facts and "Bones" in facts
    assert re.search(r'stat-value">0</span><span class="stat-label">Favorites', html)


def test_filters_offer_only_values_the_catalog_holds(client):
    AnimeFactory(mal_id=1, status="currently_airing", start_season="fall")
    AnimeFactory(mal_id=2, status="", start_season="")
    html = client.get("/anime/").content.decode()
    assert _options(html, "status") == ["", "currently_airing"]
    assert _options(html, "season") == ["", "fall"]
    assert 'value="relevance"' not in html  # "Best match" only while searching
    Anime.objects.update(status="", start_season="")
    html = client.get("/anime/").content.decode()
    assert 'name="status"' not in html and 'name="season"' not in html


def _options(html: str, name: str) -> list[str]:
    start = html.index(f'name="{name}"')
    return re.findall(r'option value="([^"]*)"', html[start : html.index("</select>", start)])


@pytest.mark.parametrize("debug", [True, False])
def test_unknown_titles_get_the_sites_404_page(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/anime/424242/")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'class="brand"' in html and "No title with this id." in html
    assert 'name="q"' in html  # a way on: search


def test_unknown_addresses_get_the_sites_404_page(client, settings):
    settings.DEBUG = False
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert 'class="brand"' in response.content.decode()


@pytest.mark.parametrize("debug", [True, False])
def test_server_errors_get_the_sites_500_page(client, settings, monkeypatch, debug, caplog):
    settings.DEBUG = debug

    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(views, "anime_get", broken)
    response = client.get("/anime/1/")
    assert response.status_code == 500
    html = response.content.decode()
    assert 'class="brand"' in html and "Something went wrong" in html
    assert "database on fire" not in html and "Traceback" not in html
    assert "database on fire" in caplog.text  # the traceback goes to the log


def test_api_errors_stay_json(client, monkeypatch):
    import catalog.api

    assert client.get("/api/anime/424242/").json() == {"detail": "No anime with this id."}

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(catalog.api, "anime_get", broken)
    response = client.get("/api/anime/1/")
    assert response.status_code == 500 and response.json() == {"detail": "Server error."}


def test_the_admin_carries_the_sites_name(client):
    html = client.get("/admin/login/").content.decode()
    assert "Animender administration" in html and "Django administration" not in html
