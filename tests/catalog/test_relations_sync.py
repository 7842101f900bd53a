"""related_anime sync against the fake MAL server over HTTP: batches, pacing, resume."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from catalog.franchises import franchise_index, franchise_index_invalidate
from catalog.mal_client import MalClient
from catalog.models import Anime, AnimeRelation
from catalog.relations_sync import relations_due, relations_sync
from catalog.tasks import sync_relations_task

pytestmark = pytest.mark.django_db

STEINS_GATE, STEINS_GATE_MOVIE, STEINS_GATE_SPECIAL = 9253, 11577, 10863
CLANNAD, CLANNAD_AFTER_STORY = 2167, 4181


@pytest.fixture
def catalog(mini_data):
    call_command("import_catalog", str(mini_data), "--no-progress")
    franchise_index_invalidate()
    yield
    franchise_index_invalidate()


def _sync(ids: list[int], **kwargs):
    """Sync exactly ``ids`` first by marking every other title as fresh."""
    Anime.objects.exclude(mal_id__in=ids).update(relations_synced_at="2999-01-01T00:00:00Z")
    return relations_sync(**kwargs)


def test_mal_client_reads_related_anime_from_the_details_endpoint(mal_client, fake_mal):
    related = mal_client.anime_related(STEINS_GATE)
    assert {(r.mal_id, r.relation_type) for r in related} == {
        (STEINS_GATE_MOVIE, "sequel"),
        (STEINS_GATE_SPECIAL, "side_story"),
        (30484, "alternative_version"),  # not in the mini catalog: MAL still lists it
    }
    assert next(r.title for r in related if r.mal_id == STEINS_GATE_MOVIE).startswith("Steins;Gate")
    assert fake_mal.requests[-1].params["fields"] == "related_anime"


def test_relations_are_stored_and_group_the_franchise(mal_settings, fake_mal, catalog):
    result = _sync([STEINS_GATE, STEINS_GATE_MOVIE, STEINS_GATE_SPECIAL, CLANNAD])
    assert (result.titles, result.relations, result.error) == (4, 8, "")
    stored = AnimeRelation.objects.filter(anime_id=STEINS_GATE)
    assert set(stored.values_list("related_id", "relation_type")) == {
        (STEINS_GATE_MOVIE, "sequel"),
        (STEINS_GATE_SPECIAL, "side_story"),
        (30484, "alternative_version"),
    }
    assert Anime.objects.get(mal_id=STEINS_GATE).relations_synced_at is not None
    index = franchise_index(show_adult=False)
    assert index.entry_point(STEINS_GATE_MOVIE) == STEINS_GATE
    # Clannad's After Story was never fetched: it joins its series by title.
    assert index.entry_point(CLANNAD_AFTER_STORY) == CLANNAD


def test_a_resync_replaces_relations_instead_of_adding(mal_settings, fake_mal, catalog):
    _sync([STEINS_GATE])
    fake_mal.relate(STEINS_GATE, [(STEINS_GATE_MOVIE, "sequel")])
    Anime.objects.filter(mal_id=STEINS_GATE).update(relations_synced_at=None)
    relations_sync(limit=1)
    assert list(
        AnimeRelation.objects.filter(anime_id=STEINS_GATE).values_list("related_id", flat=True)
    ) == [STEINS_GATE_MOVIE]


def test_sync_is_paced_by_the_client(mal_settings, fake_mal, catalog, sleeps):
    client = MalClient.from_settings(sleep=sleeps, request_interval=1.0)
    relations_sync(limit=5, client=client)
    assert len(fake_mal.requests_to("/v2/anime/")) == 5
    # One request at a time, about a second apart (the client's pause, with jitter).
    assert len(sleeps.calls) == 4 and all(0.9 <= s <= 1.3 for s in sleeps.calls)


def test_throttling_stops_the_batch_and_the_next_batch_resumes(mal_settings, fake_mal, catalog):
    due_before = relations_due().count()
    # The first title keeps getting 429 until the client's retries run out.
    fake_mal.fail("429", path="/v2/anime/", times=4)  # 1 attempt + 3 retries = gave up
    first = relations_sync(limit=10)
    assert first.titles == 0 and "429" in first.error and first.remaining == due_before
    second = relations_sync(limit=10)
    assert second.titles == 10 and second.error == ""
    assert second.remaining == due_before - 10


def test_titles_gone_from_mal_are_marked_done(mal_settings, fake_mal, catalog):
    Anime.objects.create(mal_id=777777, title="Deleted on MAL")
    result = _sync([777777])
    assert (result.titles, result.not_found) == (1, 1)
    assert Anime.objects.get(mal_id=777777).relations_synced_at is not None


def test_sync_relations_command_and_task(mal_settings, fake_mal, catalog, capsys):
    call_command("sync_relations", "--limit", "3", "--no-progress")
    out = capsys.readouterr().out
    assert "Relations of 3 titles" in out and "still due" in out
    assert Anime.objects.filter(relations_synced_at__isnull=False).count() == 3
    assert sync_relations_task(limit=2)["titles"] == 2
    assert Anime.objects.filter(relations_synced_at__isnull=False).count() == 5


def test_command_reports_a_throttled_batch_as_resumable(mal_settings, fake_mal, catalog):
    fake_mal.fail("503", path="/v2/anime/", times=None)
    with pytest.raises(CommandError, match="Stopped early: .*503.*Run again to resume"):
        call_command("sync_relations", "--limit", "3", "--no-progress")
    assert Anime.objects.filter(relations_synced_at__isnull=False).count() == 0


def test_command_without_client_id_is_a_clear_error(settings):
    settings.MAL_CLIENT_ID = ""
    with pytest.raises(CommandError, match="MAL_CLIENT_ID"):
        call_command("sync_relations", "--limit", "1")
