"""The real MAL client over HTTP against the fake server (no patching of our code)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from catalog.mal_client import (
    MalBadClientId,
    MalClient,
    MalConfigError,
    MalForbidden,
    MalNotFound,
    MalServerError,
    MalThrottled,
)
from tests.fakes.mal_server import MAX_LIMITS, VALID_CLIENT_ID

MINI_TITLES = 1506  # 1,500 CSV rows + 6 fixture titles


def _limits_respected(fake) -> None:
    for req in fake.requests:
        path = req.path.split("?")[0]
        kind = (
            "animelist"
            if path.endswith("/animelist")
            else "search"
            if path == "/v2/anime"
            else "season"
            if "/season/" in path
            else "ranking"
            if path.endswith("/ranking")
            else None
        )
        if kind:
            assert int(req.params["limit"]) == MAX_LIMITS[kind], req.path


def test_ranking_walk_pages_by_offset_with_max_limit_and_nsfw(mal_client, fake_mal):
    pages = list(mal_client.ranking_pages())
    assert [p.offset for p in pages] == [0, 500, 1000, 1500]
    assert [p.next_offset for p in pages] == [500, 1000, 1500, None]
    ids = [r.mal_id for p in pages for r in p.records]
    assert len(ids) == len(set(ids)) == MINI_TITLES
    assert {900004, 900005} <= set(ids)  # gray and black titles need nsfw=true
    assert [p.items[0]["ranking"]["rank"] for p in pages] == [1, 501, 1001, 1501]
    assert all(
        r.params["nsfw"] == "true" and r.client_id == VALID_CLIENT_ID for r in fake_mal.requests
    )
    assert all(r.status == 200 for r in fake_mal.requests)
    _limits_respected(fake_mal)


def test_paging_reads_offset_and_never_follows_the_link_host(mal_client, fake_mal):
    fake_mal.link_host = "https://api.myanimelist.net"  # unreachable from here
    pages = list(mal_client.season_pages(2025, "fall"))
    assert len(pages) == 1 and len(fake_mal.requests) == 1
    fake_mal.clear()
    ids = [r.mal_id for p in mal_client.ranking_pages() for r in p.records]
    assert len(ids) == MINI_TITLES and len(fake_mal.requests) == 4


def test_next_link_to_an_empty_page_ends_the_walk(mal_client, fake_mal):
    fake_mal.empty_last_page = True
    pages = list(mal_client.ranking_pages())
    assert [len(p.records) for p in pages] == [500, 500, 500, 6, 0]
    assert pages[-1].next_offset is None


def test_without_nsfw_flag_the_fake_hides_gray_and_black(mal_client, fake_mal):
    import requests

    response = requests.get(
        f"{fake_mal.base_url}/anime/season/2025/fall",
        headers={"X-MAL-CLIENT-ID": VALID_CLIENT_ID},
        timeout=5,
    )
    assert [d["node"]["id"] for d in response.json()["data"]] == [900003, 900002]
    ids = {r.mal_id for p in mal_client.season_pages(2025, "fall") for r in p.records}
    assert ids == {900002, 900003, 900004}


def test_details_map_every_field_with_unicode(mal_client):
    record = mal_client.anime_details(900002)
    v = record.values
    assert v["title"] == 'Kaze & <Hoshi> "Tabi" 🌸'
    assert v["title_english"] == 'Wind & <Stars> "Journey"'
    assert v["title_japanese"] == "風と星の旅 🌸"
    assert v["synonyms"] == ["K&H", "Wind 'n' Stars"]
    assert v["synopsis"].startswith('A "quiet" trip: wind & stars <3 — 風の旅人。🌸')
    assert (v["media_type"], v["status"], v["source"], v["rating"], v["nsfw"]) == (
        "tv",
        "currently_airing",
        "original",
        "pg_13",
        "white",
    )
    assert (v["num_episodes"], v["average_episode_duration"]) == (12, 1420)
    assert (v["start_date"], v["end_date"]) == ("2025-10", "")
    assert (v["start_season"], v["start_year"]) == ("fall", 2025)
    assert (v["mean"], v["rank"], v["popularity"]) == (7.91, 1201, 2300)
    assert (v["num_list_users"], v["num_scoring_users"]) == (54321, 12345)
    assert v["picture_medium"].endswith("/900002.jpg")
    assert v["picture_large"].endswith("/900002l.jpg")
    assert v["mal_updated_at"] == datetime(2025, 10, 10, 8, 30, tzinfo=UTC)
    assert [(g.name, g.mal_id) for g in record.genres] == [("Adventure", 2), ("Slice of Life", 36)]
    assert [(s.name, s.mal_id) for s in record.studios] == [("Studio Kaze", 7001)]


def test_missing_data_becomes_empty_or_null(mal_client):
    v = mal_client.anime_details(900001).values  # unaired
    assert v["mean"] is None and v["rank"] is None
    assert v["synopsis"] == "" and v["end_date"] == ""
    assert (v["start_season"], v["start_year"]) == ("", None)
    assert v["num_episodes"] is None  # MAL's 0 = unknown
    assert v["average_episode_duration"] is None
    assert v["start_date"] == "2026"
    assert v["title_english"] == "" and v["title_japanese"] == "星の欠片 完結編"
    assert v["picture_medium"].endswith("900001.jpg") and v["picture_large"] == ""


def test_unrequested_fields_are_not_in_the_record(mal_client):
    page = next(mal_client.pages("anime/ranking", {"ranking_type": "all"}, fields="id,title,mean"))
    record = page.records[0]
    assert set(record.values) == {"title", "mean"}
    assert record.genres is None and record.studios is None


def test_bad_client_id_is_a_config_error(mal_settings, fake_mal):
    client = MalClient.from_settings(client_id="not-the-right-id")
    with pytest.raises(MalBadClientId, match="Invalid client id"):
        client.anime_details(1)
    assert len(fake_mal.requests) == 1  # never retried


def test_missing_client_id_fails_before_any_request(mal_settings, fake_mal):
    mal_settings.MAL_CLIENT_ID = ""
    with pytest.raises(MalConfigError, match="MAL_CLIENT_ID is not set"):
        MalClient.from_settings()
    assert fake_mal.requests == []


def test_403_on_first_call_is_forbidden_not_retried(mal_client, fake_mal):
    fake_mal.fail("403", times=None)
    with pytest.raises(MalForbidden):
        list(mal_client.ranking_pages())
    assert len(fake_mal.requests) == 1


def test_403_after_a_success_is_throttling_and_retried(mal_client, fake_mal):
    fake_mal.fail("403", at=2)
    assert len(list(mal_client.ranking_pages())) == 4
    assert [r.status for r in fake_mal.requests] == [200, 403, 200, 200, 200]


def test_unknown_anime_is_not_found_and_not_retried(mal_client, fake_mal):
    with pytest.raises(MalNotFound, match="404"):
        mal_client.anime_details(123456789)
    assert len(fake_mal.requests) == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "429", "retry_after": "0"},
        {"kind": "429"},
        {"kind": "500"},
        {"kind": "502"},
        {"kind": "503"},
        {"kind": "504", "delay": 0.2},
        {"kind": "reset"},
    ],
)
def test_transient_failures_are_retried(mal_client, fake_mal, sleeps, fault):
    fake_mal.fail(**fault, path="offset=500", times=2)
    ids = [r.mal_id for p in mal_client.ranking_pages() for r in p.records]
    assert len(ids) == MINI_TITLES
    offsets = [r.params["offset"] for r in fake_mal.requests]
    assert offsets == ["0", "500", "500", "500", "1000", "1500"]
    assert len(sleeps.calls) == 2


def test_read_timeout_is_retried(mal_settings, fake_mal, sleeps):
    client = MalClient.from_settings(sleep=sleeps, timeout=0.3)
    fake_mal.fail("504", at=1, delay=0.8)  # slower than the read timeout
    assert client.anime_details(1).values["title"] == "Cowboy Bebop"
    assert len(sleeps.calls) == 1 and client.requests_made == 2


def test_retry_after_is_honoured(mal_settings, fake_mal, sleeps):
    client = MalClient.from_settings(sleep=sleeps, backoff_max=60)
    fake_mal.fail("429", at=1, retry_after="7")
    client.anime_details(1)
    assert sleeps.calls == [7.0]


def test_backoff_is_exponential_with_full_jitter(mal_settings, fake_mal, sleeps):
    client = MalClient.from_settings(
        sleep=sleeps, backoff_base=2.0, backoff_max=10.0, max_retries=5, rng=random.Random(1)
    )
    fake_mal.fail("500", times=5)
    client.anime_details(1)
    caps = [2.0, 4.0, 8.0, 10.0, 10.0]
    assert len(sleeps.calls) == 5
    assert all(0 <= wait <= cap for wait, cap in zip(sleeps.calls, caps, strict=True))


def test_exhausted_retries_raise_typed_errors(mal_client, fake_mal):
    fake_mal.fail("429", times=None)
    with pytest.raises(MalThrottled, match="gave up after 4 attempts") as exc:
        mal_client.anime_details(1)
    assert exc.value.retryable and exc.value.status == 429
    fake_mal.clear()
    fake_mal.fail("502", times=None)
    with pytest.raises(MalServerError, match="HTTP 502"):
        mal_client.anime_details(1)
    assert len(fake_mal.requests) == 4


def test_requests_are_paced_by_the_interval(mal_settings, fake_mal, sleeps):
    now = [100.0]
    client = MalClient.from_settings(sleep=sleeps, request_interval=1.0, clock=lambda: now[0])
    list(client.season_pages(2025, "fall"))
    client.anime_details(1)
    client.anime_details(5)
    assert len(sleeps.calls) == 2 and all(1.0 <= s <= 1.25 for s in sleeps.calls)


def test_search_uses_max_limit_and_validates_q(mal_client, fake_mal):
    with pytest.raises(ValueError, match="3 characters"):
        mal_client.search_pages("ka")
    titles = [r.values["title"] for p in mal_client.search_pages("bebop") for r in p.records]
    assert "Cowboy Bebop" in titles
    list(mal_client.search_pages("gintama " * 20))  # trimmed to 64 characters, accepted
    assert all(len(r.params["q"]) <= 64 for r in fake_mal.requests)
    _limits_respected(fake_mal)


def test_user_animelist_pages_past_1000_entries(mal_client, fake_mal):
    fake_mal.add_big_user("big_list", size=1200)
    entries = list(mal_client.user_animelist("big_list"))
    assert len(entries) == 1200 and len({e.anime.mal_id for e in entries}) == 1200
    assert [r.params["offset"] for r in fake_mal.requests] == ["0", "1000"]
    _limits_respected(fake_mal)
    assert {e.list_status.status for e in entries} == {
        "watching",
        "completed",
        "on_hold",
        "dropped",
        "plan_to_watch",
    }


def test_user_animelist_maps_list_status(mal_client):
    entries = {e.anime.mal_id: e for e in mal_client.user_animelist("kaze_fan")}
    assert set(entries) == {900001, 900002, 900003, 900004, 900006}  # gray one included
    done = entries[900003].list_status
    assert (done.status, done.score, done.num_episodes_watched) == ("completed", None, 24)
    assert (done.start_date, done.finish_date, done.tags) == (
        "2025-07-04",
        "2025-09-30",
        ["summer", "tearjerker"],
    )
    assert entries[900002].list_status.score == 9
    assert entries[900002].anime.values["title_japanese"] == "風と星の旅 🌸"
    mal_client.begin_run()  # on a fresh run a private list's 403 is not throttling
    with pytest.raises(MalForbidden):
        list(mal_client.user_animelist("secret_user"))
