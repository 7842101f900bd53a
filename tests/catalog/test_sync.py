"""catalog_sync against the fake MAL server: paging, checkpoints, resume, idempotency."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from catalog.mal_client import MalClient, MalServerError, MalThrottled
from catalog.models import Anime, Genre, Studio, SyncRun
from catalog.records import AnimeRecord
from catalog.services import anime_upsert_many
from catalog.sync import catalog_sync, sync_plan

pytestmark = pytest.mark.django_db

MINI_TITLES = 1506


def _offsets(requests) -> list[str]:
    return [r.params.get("offset") for r in requests]


def test_full_sync_fills_the_catalog(mal_settings, fake_mal):
    written: list[int] = []
    run = catalog_sync(mode="full", progress=written.append)
    assert (run.state, run.pages, run.requests) == ("done", 4, 4)
    assert (run.titles_created, run.titles_updated) == (MINI_TITLES, 0)
    assert run.finished_at and run.error == "" and run.endpoint == ""
    assert sum(written) == Anime.objects.count() == MINI_TITLES
    bebop = Anime.objects.get(mal_id=1)
    assert (bebop.title, bebop.media_type, bebop.num_episodes) == ("Cowboy Bebop", "tv", 26)
    assert (bebop.start_season, bebop.start_year, bebop.rating) == ("spring", 1998, "r")
    assert set(bebop.genres.values_list("name", "mal_id")) >= {("Action", 1), ("Space", 29)}
    assert list(bebop.studios.values_list("name", flat=True)) == ["Sunrise"]
    # NSFW titles come too (nsfw=true); adult ones are flagged for the UI filter.
    assert Anime.objects.get(mal_id=900004).nsfw == "gray"
    assert Anime.objects.get(mal_id=900005).is_adult


def test_sync_stores_missing_data_and_unicode(mal_settings, fake_mal):
    catalog_sync(mode="full")
    unaired = Anime.objects.get(mal_id=900001)
    assert unaired.mean is None and unaired.rank is None and unaired.num_episodes is None
    assert (unaired.synopsis, unaired.start_season, unaired.start_year) == ("", "", None)
    assert (unaired.start_date, unaired.picture_large) == ("2026", "")
    fancy = Anime.objects.get(mal_id=900002)
    assert fancy.title == 'Kaze & <Hoshi> "Tabi" 🌸'
    assert fancy.title_japanese == "風と星の旅 🌸"
    assert "|風と星の旅|" in fancy.search_text and "|k h|" in fancy.search_text
    assert set(fancy.studios.values_list("name", "mal_id")) == {("Studio Kaze", 7001)}


def test_resync_is_idempotent(mal_settings, fake_mal):
    catalog_sync(mode="full")
    links = Anime.genres.through.objects.count()
    genres, studios = Genre.objects.count(), Studio.objects.count()
    run = catalog_sync(mode="full")
    assert (run.titles_created, run.titles_updated) == (0, MINI_TITLES)
    assert Anime.objects.count() == MINI_TITLES
    assert (Genre.objects.count(), Studio.objects.count()) == (genres, studios)
    assert Anime.genres.through.objects.count() == links


def test_list_sync_keeps_fields_it_did_not_request(mal_settings, fake_mal):
    catalog_sync(mode="full")
    Anime.objects.filter(mal_id=1).update(num_favorites=69678)  # not a list field
    catalog_sync(mode="full")
    assert Anime.objects.get(mal_id=1).num_favorites == 69678


def test_failed_sync_keeps_committed_pages_and_resumes_from_checkpoint(mal_settings, fake_mal):
    fake_mal.fail("503", path="offset=1000", times=None)
    with pytest.raises(MalServerError, match="HTTP 503"):
        catalog_sync(mode="full")
    failed = SyncRun.objects.get()
    assert failed.state == "failed" and "MalServerError" in failed.error
    assert "gave up after 4 attempts" in failed.error
    assert (failed.endpoint, failed.params, failed.next_offset) == (
        "anime/ranking",
        {"ranking_type": "all"},
        1000,
    )
    assert (failed.pages, failed.titles_created, failed.requests) == (2, 1000, 6)
    assert Anime.objects.count() == 1000

    fake_mal.clear()
    resumed = catalog_sync(mode="full")
    assert resumed.resumed_from_id == failed.pk and resumed.state == "done"
    assert _offsets(fake_mal.requests) == ["1000", "1500"]  # pages 0 and 500 not refetched
    assert (resumed.pages, resumed.titles_created) == (2, MINI_TITLES - 1000)
    assert Anime.objects.count() == MINI_TITLES
    assert not Anime.objects.values("mal_id").annotate(n=Count("mal_id")).filter(n__gt=1)

    # The finished resumption is not resumed again: the next run starts over.
    fake_mal.clear()
    again = catalog_sync(mode="full")
    assert again.resumed_from_id is None and _offsets(fake_mal.requests)[0] == "0"


def test_throttling_that_outlives_retries_fails_the_run_clearly(mal_settings, fake_mal):
    fake_mal.fail("429", path="offset=500", times=None)
    with pytest.raises(MalThrottled):
        catalog_sync(mode="full")
    run = SyncRun.objects.get()
    assert run.state == "failed" and run.next_offset == 500
    assert run.error.startswith("MalThrottled: HTTP 429 from /v2/anime/ranking")


def test_no_resume_starts_over(mal_settings, fake_mal):
    fake_mal.fail("500", path="offset=500", times=None)
    with pytest.raises(MalServerError):
        catalog_sync(mode="full")
    fake_mal.clear()
    run = catalog_sync(mode="full", resume=False)
    assert run.resumed_from_id is None
    assert _offsets(fake_mal.requests) == ["0", "500", "1000", "1500"]


def test_a_dead_workers_running_row_continues_at_its_checkpoint(mal_settings, fake_mal):
    silent = timezone.now() - timedelta(seconds=mal_settings.RUN_STALE_AFTER_SECONDS + 1)
    stale = SyncRun.objects.create(
        mode="full",
        state="running",
        attempts=1,
        started_at=silent,
        endpoint="anime/ranking",
        params={"ranking_type": "all"},
        next_offset=1500,
        plan=sync_plan(mode="full", today=date.today()),
    )
    SyncRun.objects.filter(pk=stale.pk).update(heartbeat_at=silent)
    run = catalog_sync(mode="full")
    # The same row, its second attempt: the checkpoint is where it continues.
    assert (run.pk, run.state, run.attempts) == (stale.pk, "done", 2)
    assert _offsets(fake_mal.requests) == ["1500"]


def test_seasonal_sync_walks_current_previous_and_next_season(mal_settings, fake_mal):
    run = catalog_sync(mode="seasonal", today=date(2025, 11, 5))
    paths = [r.path.split("?")[0] for r in fake_mal.requests]
    assert paths == [
        "/v2/anime/season/2025/fall",
        "/v2/anime/season/2025/summer",
        "/v2/anime/season/2026/winter",
    ]
    assert all(r.params["limit"] == "500" and r.params["nsfw"] == "true" for r in fake_mal.requests)
    # 900003 is listed in fall (carry-over) and summer: written once.
    assert set(Anime.objects.values_list("mal_id", flat=True)) == {
        900002,
        900003,
        900004,
        900005,
        900006,
    }
    assert (run.pages, run.titles_created, run.state) == (3, 5, "done")


def test_seasonal_sync_resumes_at_the_pending_season(mal_settings, fake_mal):
    fake_mal.fail("502", path="/season/2026/winter", times=None)
    with pytest.raises(MalServerError):
        catalog_sync(mode="seasonal", today=date(2025, 11, 5))
    failed = SyncRun.objects.get()
    assert (failed.endpoint, failed.pending) == ("anime/season/2026/winter", [])
    fake_mal.clear()
    catalog_sync(mode="seasonal", today=date(2025, 11, 5))
    assert [r.path.split("?")[0] for r in fake_mal.requests] == ["/v2/anime/season/2026/winter"]


def test_sync_plan_rolls_over_the_year():
    assert [p["endpoint"] for p in sync_plan(mode="seasonal", today=date(2026, 2, 1))] == [
        "anime/season/2026/winter",
        "anime/season/2025/fall",
        "anime/season/2026/spring",
    ]
    with pytest.raises(ValueError, match="unknown sync mode"):
        sync_plan(mode="weekly", today=date(2026, 2, 1))


def test_injected_client_is_used_and_left_open(mal_settings, fake_mal, sleeps):
    client = MalClient.from_settings(sleep=sleeps)
    catalog_sync(mode="seasonal", client=client, today=date(2025, 11, 5))
    assert client.requests_made == 3
    client.anime_details(1)  # still usable by the caller
    client.close()


def test_a_record_without_names_keeps_the_stored_ones_searchable(mal_settings, fake_mal):
    catalog_sync(mode="full")
    anime_upsert_many(records=[AnimeRecord(mal_id=900002, values={"mean": 8.25})])
    fancy = Anime.objects.get(mal_id=900002)
    assert fancy.mean == 8.25 and fancy.title == 'Kaze & <Hoshi> "Tabi" 🌸'
    assert fancy.synonyms == ["K&H", "Wind 'n' Stars"]
    assert "|k h|" in fancy.search_text and "|wind stars journey|" in fancy.search_text


def _prefetch_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "mal-prefetch" and t.is_alive()]


def test_prefetching_leaves_no_thread_behind(mal_settings, fake_mal):
    catalog_sync(mode="full")
    fake_mal.fail("500", path="offset=500", times=None)
    with pytest.raises(MalServerError):
        catalog_sync(mode="full", resume=False)
    assert _prefetch_threads() == []
