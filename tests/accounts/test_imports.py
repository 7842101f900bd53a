"""MAL list import end to end: pages and API start it, the Celery task (eager here; see
test_import_broker.py for a real worker) fills the list and the progress row."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.imports import import_run_execute
from accounts.models import ImportRun, ListEntry
from accounts.tasks import import_list_task, reap_stale_imports_task
from catalog.models import Anime

from .mal_xml import gzipped, mal_export_xml

pytestmark = pytest.mark.django_db

EXPORT = [
    {"mal_id": 1, "title": "Cowboy Bebop", "status": "completed", "score": 9, "episodes": 26},
    {"mal_id": 6, "title": "Trigun", "status": "watching", "score": 0, "episodes": 4},
    {"mal_id": 30, "title": "Evangelion", "status": "dropped", "score": 4, "episodes": 2},
    {"mal_id": 987654321, "title": "Not On MAL Either", "status": "completed", "score": 5},
]


def _upload(client, data: bytes, name: str = "animelist_1700000000_-_1234567.xml.gz"):
    return client.post(
        "/me/import/", {"kind": "xml", "file": SimpleUploadedFile(name, data)}, follow=False
    )


def _entries(user) -> dict[int, tuple]:
    return {
        e.anime_id: (e.status, e.score, e.episodes_watched)
        for e in ListEntry.objects.filter(user=user)
    }


def test_xml_upload_page_imports_and_reports_missing_titles(
    alice_client, alice, titles, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(alice_client, gzipped(mal_export_xml(EXPORT)))
    assert response.status_code == 302
    run = ImportRun.objects.get(user=alice)
    assert response["Location"] == f"/me/import/{run.pk}/"
    assert run.state == "done", run.error
    assert (run.total, run.created, run.updated) == (4, 3, 0)
    # No MAL_CLIENT_ID in tests by default: the unknown title is reported, not fetched.
    assert run.missing == [{"mal_id": 987654321, "title": "Not On MAL Either"}]
    assert run.upload is None  # the stored upload is dropped once applied
    assert _entries(alice) == {
        1: ("completed", 9, 26),
        6: ("watching", None, 4),
        30: ("dropped", 4, 2),
    }
    page = alice_client.get(response["Location"]).content.decode()
    assert "Done." in page and "Not On MAL Either" in page and 'data-active="0"' in page


def test_reimport_updates_instead_of_duplicating(
    alice_client, alice, titles, django_capture_on_commit_callbacks
):
    ListEntry.objects.create(user=alice, anime_id=32, status="completed", score=10)
    ListEntry.objects.create(user=alice, anime_id=1, status="watching", not_interested=True)
    changed = [
        {**EXPORT[0], "score": 7},
        {"mal_id": 32, "status": "dropped", "score": 1, "update_on_import": 0},
        EXPORT[1],
    ]
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            _upload(alice_client, mal_export_xml(changed), name="list.xml")
    first, second = ImportRun.objects.filter(user=alice).order_by("pk")
    assert (first.created, first.updated, first.unchanged) == (1, 1, 1)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    assert ListEntry.objects.filter(user=alice).count() == 3
    assert _entries(alice)[1] == ("completed", 7, 26)
    assert ListEntry.objects.get(user=alice, anime_id=1).not_interested is True  # kept
    assert _entries(alice)[32] == ("completed", 10, 0)  # update_on_import 0: left alone


def test_missing_titles_are_fetched_from_mal(
    alice, titles, mal_settings, fake_mal, django_capture_on_commit_callbacks
):
    assert not Anime.objects.filter(mal_id=20).exists()
    export = [*EXPORT, {"mal_id": 20, "title": "Naruto", "status": "completed", "score": 7}]
    with django_capture_on_commit_callbacks(execute=True):
        from accounts.imports import import_run_start_xml

        run = import_run_start_xml(
            user=alice, upload=SimpleUploadedFile("a.xml", mal_export_xml(export))
        )
    run.refresh_from_db()
    assert run.state == "done", run.error
    assert Anime.objects.get(mal_id=20).title == "Naruto"
    assert run.titles_fetched == 1 and [m["mal_id"] for m in run.missing] == [987654321]
    assert _entries(alice)[20] == ("completed", 7, 0)
    assert fake_mal.requests_to("/v2/anime/20")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html><body>not a list</body></html>", "not a MyAnimeList export"),
        (gzipped(b'<?xml version="1.0"?>\n<!-- x -->\n<rss></rss>'), "root element is &lt;rss&gt;"),
        (b"\x1f\x8b\x08garbage", "cannot be unpacked"),
        (b"PK\x03\x04 a zip file", "The file is not XML"),
        (b"  \n", "The file is empty"),
    ],
)
def test_plainly_bad_upload_gets_a_form_error_and_no_run(
    alice_client, alice, titles, data, message
):
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=8)
    response = _upload(alice_client, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ImportRun.objects.exists()
    assert _entries(alice) == {1: ("completed", 8, 0)}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<myanimelist><anime>", "not well-formed XML"),
        (gzipped(b"<myanimelist>" + b" " * (3 * 1024 * 1024)), "unpacked file is larger"),
        (
            mal_export_xml([{**EXPORT[0], "status": "completed"}]).replace(
                b"<my_score>9</my_score>", b"<my_score>eleven</my_score>"
            ),
            "my_score 'eleven' is not a number",
        ),
    ],
)
def test_broken_export_fails_the_run_with_the_parsers_message(
    alice_client, alice, titles, settings, data, message, django_capture_on_commit_callbacks
):
    settings.LIST_IMPORT_MAX_XML_BYTES = 2 * 1024 * 1024
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=8)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(alice_client, data)
    assert response.status_code == 302
    run = ImportRun.objects.get(user=alice)
    assert (run.state, run.error_code) == ("failed", "bad_file")
    assert message in run.error
    assert run.upload is None  # the stored upload goes when the run ends
    page = alice_client.get(response["Location"]).content.decode()
    assert "The import failed." in page and message.replace("'", "&#x27;") in page
    assert _entries(alice) == {1: ("completed", 8, 0)}


def test_upload_over_the_size_cap_is_refused(alice_client, titles, settings):
    settings.LIST_IMPORT_MAX_UPLOAD_BYTES = 1024
    response = _upload(alice_client, b"<myanimelist>" + b" " * 4096 + b"</myanimelist>")
    assert response.status_code == 400
    assert "the limit is" in response.content.decode()
    assert not ImportRun.objects.exists()


def test_api_upload_over_the_size_cap_gets_400_json_and_no_run(alice_api, titles, settings):
    settings.LIST_IMPORT_MAX_UPLOAD_BYTES = 1024
    response = alice_api.post(
        "/api/me/imports/",
        {"file": SimpleUploadedFile("big.xml", mal_export_xml(EXPORT * 20))},
        format="multipart",
    )
    assert response.status_code == 400
    assert "the limit is" in response.json()["file"][0]
    assert not ImportRun.objects.exists()


def test_upload_request_stores_the_file_and_the_task_parses_it(
    alice_api, alice, titles, django_capture_on_commit_callbacks
):
    data = gzipped(mal_export_xml(EXPORT[:3]))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = alice_api.post(
            "/api/me/imports/",
            {"file": SimpleUploadedFile("list.xml.gz", data)},
            format="multipart",
        )
    assert response.status_code == 202 and response.json()["status"] == "queued"
    run = ImportRun.objects.get(pk=response.json()["id"])
    # Nothing parsed in the request: the bytes wait on the run, as sent.
    assert bytes(run.upload) == data and (run.total, run.mal_username) == (0, "")
    assert _entries(alice) == {}
    assert len(callbacks) == 1
    callbacks[0]()  # the queued task (eager here) does the parsing
    progress = alice_api.get(f"/api/me/imports/{run.pk}/").json()
    assert progress["status"] == "done", progress["error"]
    assert progress["total"] == 3 and progress["created"] == 3
    run.refresh_from_db()
    assert run.upload is None and run.mal_username == "example_user"
    assert set(_entries(alice)) == {1, 6, 30}


def test_export_over_the_entry_cap_fails_and_changes_nothing(
    alice_api, alice, titles, settings, django_capture_on_commit_callbacks
):
    settings.LIST_IMPORT_MAX_ENTRIES = 2
    ListEntry.objects.create(user=alice, anime_id=1, status="watching", score=3)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(
            "/api/me/imports/",
            {"file": SimpleUploadedFile("list.xml", mal_export_xml(EXPORT[:3]))},
            format="multipart",
        )
    assert response.status_code == 202
    progress = alice_api.get(f"/api/me/imports/{response.json()['id']}/").json()
    assert progress["status"] == "failed" and progress["error_code"] == "bad_file"
    assert "more than 2 titles; the limit is 2" in progress["error"]
    assert _entries(alice) == {1: ("watching", 3, 0)}
    assert ImportRun.objects.get().upload is None


def test_api_import_by_username_from_mal(
    alice_api, alice, mal_settings, fake_mal, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post("/api/me/imports/", {"mal_username": "kaze_fan"}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    run_id = response.json()["id"]
    progress = alice_api.get(f"/api/me/imports/{run_id}/").json()
    assert progress["status"] == "done", progress["error"]
    assert progress["created"] == 5 and progress["percent"] == 100
    # The fictional titles were not in the catalog: the list payload itself added them.
    assert set(_entries(alice)) == {900001, 900002, 900003, 900004, 900006}
    assert _entries(alice)[900002] == ("watching", 9, 3)
    assert _entries(alice)[900003][1] is None  # MAL's score 0 = not scored
    assert Anime.objects.filter(mal_id=900002).exists() and progress["missing"] == []
    calls = fake_mal.requests_to("/users/kaze_fan/animelist")
    assert calls[-1].params["limit"] == "1000" and calls[-1].params["nsfw"] == "true"
    assert "list_status" in calls[-1].params["fields"]


def test_api_import_pages_past_1000_entries(
    alice, alice_api, mal_settings, fake_mal, mini_data, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    call_command("import_catalog", str(mini_data), "--no-progress")
    fake_mal.add_big_user("big_list", size=1200)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post("/api/me/imports/", {"mal_username": "big_list"}, format="json")
    run = ImportRun.objects.get(pk=response.json()["id"])
    assert run.state == "done", run.error
    assert run.total == 1200 and run.created == 1200
    assert ListEntry.objects.filter(user=alice).count() == 1200
    offsets = [r.params["offset"] for r in fake_mal.requests_to("limit=1000")]
    assert offsets == ["0", "1000"]


@pytest.mark.parametrize(
    ("username", "status", "message"),
    [
        ("secret_user", 400, "is private on MyAnimeList"),
        ("nobody_here", 400, "has no user named 'nobody_here'"),
        ("bad name!", 400, "not a valid MyAnimeList user name"),
    ],
)
def test_api_import_refuses_private_or_unknown_users(
    alice_api, alice, titles, mal_settings, fake_mal, username, status, message
):
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=8)
    response = alice_api.post("/api/me/imports/", {"mal_username": username}, format="json")
    assert response.status_code == status
    assert message in response.json()["mal_username"][0]
    assert not ImportRun.objects.exists() and _entries(alice) == {1: ("completed", 8, 0)}


def test_mal_down_gets_503_json_and_changes_nothing(
    alice_api, alice, titles, mal_settings, fake_mal
):
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=8)
    fake_mal.fail("503", times=None)
    response = alice_api.post("/api/me/imports/", {"mal_username": "kaze_fan"}, format="json")
    assert response.status_code == 503
    assert "MyAnimeList is not answering" in response.json()["detail"]
    assert not ImportRun.objects.exists() and _entries(alice) == {1: ("completed", 8, 0)}


def test_mal_failing_during_the_import_fails_the_run_and_keeps_the_list(
    alice_api, alice, titles, mal_settings, fake_mal, django_capture_on_commit_callbacks
):
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=8)
    fake_mal.fail("500", path="limit=1000", times=None)  # the check passes, the walk fails
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post("/api/me/imports/", {"mal_username": "kaze_fan"}, format="json")
    run = alice_api.get(f"/api/me/imports/{response.json()['id']}/").json()
    assert run["status"] == "failed" and run["error_code"] == "mal_unavailable"
    assert "nothing was changed" in run["error"]
    assert _entries(alice) == {1: ("completed", 8, 0)}


def test_api_upload_and_input_errors(alice_api, alice, titles, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(
            "/api/me/imports/",
            {"file": SimpleUploadedFile("list.xml", mal_export_xml(EXPORT[:2]))},
            format="multipart",
        )
    assert response.status_code == 202
    assert ImportRun.objects.get().state == "done"
    assert set(_entries(alice)) == {1, 6}
    neither = alice_api.post("/api/me/imports/", {}, format="json")
    assert neither.status_code == 400 and "either mal_username" in str(neither.json())
    bad = alice_api.post(
        "/api/me/imports/",
        {"file": SimpleUploadedFile("x.xml", b"<rss></rss>")},
        format="multipart",
    )
    assert bad.status_code == 400 and "not a MyAnimeList export" in bad.json()["file"][0]
    assert ImportRun.objects.count() == 1


def test_one_active_import_per_member(alice_api, alice, charlie, titles):
    ImportRun.objects.create(user=alice, source="xml", state="running", heartbeat_at=timezone.now())
    response = alice_api.post(
        "/api/me/imports/",
        {"file": SimpleUploadedFile("list.xml", mal_export_xml(EXPORT[:1]))},
        format="multipart",
    )
    assert response.status_code == 409 and response.json()["code"] == "import_running"
    # The database itself refuses a second active run, whatever the code path.
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ImportRun.objects.create(user=alice, source="xml", state="queued")
    ImportRun.objects.create(user=charlie, source="xml", state="queued")  # others unaffected


def _silent(settings) -> datetime:
    """A heartbeat older than the import kind's stale limit."""
    limit = settings.RUN_STALE_AFTER_OVERRIDES.get("import", settings.RUN_STALE_AFTER_SECONDS)
    return timezone.now() - timedelta(seconds=limit + 5)


def test_the_reaper_queues_a_silent_import_again_and_it_finishes(
    alice, titles, settings, django_capture_on_commit_callbacks
):
    silent = _silent(settings)
    stale = ImportRun.objects.create(
        user=alice,
        source="xml",
        state="running",
        attempts=1,
        started_at=silent,
        heartbeat_at=silent,
        upload=mal_export_xml([EXPORT[0]]),
    )
    with django_capture_on_commit_callbacks(execute=True):
        reaped = reap_stale_imports_task()
    assert reaped["requeued"] == [stale.pk]
    stale.refresh_from_db()
    # The resent message ran (eagerly here): the second attempt imported the kept upload.
    assert (stale.state, stale.attempts, stale.error) == ("done", 2, "")
    assert _entries(alice) == {1: ("completed", 9, 26)}


def test_an_import_that_used_its_attempts_stays_failed_and_frees_the_slot(
    alice_api, alice, titles, settings, django_capture_on_commit_callbacks
):
    silent = _silent(settings)
    stale = ImportRun.objects.create(
        user=alice,
        source="xml",
        state="running",
        attempts=settings.RUN_MAX_ATTEMPTS,
        started_at=silent,
        heartbeat_at=silent,
        upload=mal_export_xml([EXPORT[0]]),
    )
    with django_capture_on_commit_callbacks(execute=True) as sent:
        reaped = reap_stale_imports_task()
    assert reaped == {"requeued": [], "failed": [stale.pk], "resent": []}
    assert sent == []  # nothing queued again
    stale.refresh_from_db()
    assert (stale.state, stale.error_code, stale.upload) == ("failed", "interrupted", None)
    assert f"Attempt {settings.RUN_MAX_ATTEMPTS} of {settings.RUN_MAX_ATTEMPTS}" in stale.error
    shown = alice_api.get(f"/api/me/imports/{stale.pk}/").json()
    assert shown["status"] == "failed" and shown["attempts"] == settings.RUN_MAX_ATTEMPTS
    assert shown["max_attempts"] == settings.RUN_MAX_ATTEMPTS and "gave up" in shown["error"]
    response = alice_api.post(
        "/api/me/imports/",
        {"file": SimpleUploadedFile("list.xml", mal_export_xml(EXPORT[:1]))},
        format="multipart",
    )
    assert response.status_code == 202  # the failed run no longer holds the member's slot


def test_a_live_import_is_left_alone_by_the_reaper(alice, titles):
    now = timezone.now()
    ImportRun.objects.create(
        user=alice, source="xml", state="running", attempts=1, started_at=now, heartbeat_at=now
    )
    assert reap_stale_imports_task() == {"requeued": [], "failed": [], "resent": []}
    assert ImportRun.objects.get(user=alice).state == "running"


def test_task_received_twice_runs_once(alice, titles):
    run = ImportRun.objects.create(
        user=alice,
        source="xml",
        upload=mal_export_xml([EXPORT[0]]),
    )
    assert import_list_task.name == "accounts.import_list"
    assert import_list_task(run.pk) == "done"
    ListEntry.objects.filter(user=alice).update(score=3)  # a later edit by the member
    assert import_list_task(run.pk) == "done"  # the redelivery claims nothing...
    assert ListEntry.objects.get(user=alice).score == 3  # ...and overwrites nothing
    assert import_run_execute(run_id=999_999) is None  # a deleted row: quietly nothing


def test_imports_are_owner_only(alice_api, charlie_api, client, charlie, alice, titles):
    run = ImportRun.objects.create(user=alice, source="mal_api", mal_username="alice_mal")
    assert charlie_api.get(f"/api/me/imports/{run.pk}/").status_code == 404
    assert charlie_api.get("/api/me/imports/").json() == []
    client.force_login(charlie)
    assert client.get(f"/me/import/{run.pk}/").status_code == 404
    assert "alice_mal" not in client.get("/me/import/").content.decode()


def test_running_import_page_updates_itself(alice_client, alice):
    run = ImportRun.objects.create(
        user=alice, source="xml", state="running", total=10, processed=4, phase="Saving entries"
    )
    page = alice_client.get(f"/me/import/{run.pk}/").content.decode()
    assert 'data-active="1"' in page and f'data-import-run="/api/me/imports/{run.pk}/"' in page
    assert '<meta http-equiv="refresh"' in page  # no-JavaScript fallback
    assert "import_progress.js" in page and "width: 40%" in page


def test_an_imported_list_with_likes_and_dislikes_queues_a_taste_model(
    alice_client, alice, titles, settings, tmp_path, django_capture_on_commit_callbacks
):
    from labeling.models import TasteTrainingRun

    settings.MODEL_DIR = tmp_path / "models"
    scored = [
        {"mal_id": m, "title": titles[m].title, "status": "completed", "score": s}
        for m, s in ((1, 9), (5, 8), (6, 3), (30, 2), (32, 10))
    ]
    with django_capture_on_commit_callbacks(execute=True):
        _upload(alice_client, mal_export_xml(scored), name="list.xml")
    assert ImportRun.objects.get(user=alice).state == "done"
    run = TasteTrainingRun.objects.get(user=alice)
    assert run.trigger == TasteTrainingRun.Trigger.LIST


def test_an_imported_list_of_likes_only_trains_nothing(
    alice_client, alice, titles, settings, tmp_path, django_capture_on_commit_callbacks
):
    from labeling.models import TasteTrainingRun

    settings.MODEL_DIR = tmp_path / "models"
    liked = [{"mal_id": m, "status": "completed", "score": 9} for m in (1, 5, 6, 30)]
    with django_capture_on_commit_callbacks(execute=True):
        _upload(alice_client, mal_export_xml(liked), name="list.xml")
    assert ImportRun.objects.get(user=alice).state == "done"
    assert not TasteTrainingRun.objects.filter(user=alice).exists()


def test_the_admin_lists_a_failed_imports_state_attempts_and_error(
    client, django_user_model, alice
):
    ImportRun.objects.create(
        user=alice, source="xml", state="failed", attempts=3, error="Attempt 3 of 3: gave up."
    )
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    client.force_login(admin)
    page = client.get("/admin/accounts/importrun/").content.decode()
    assert "Attempt 3 of 3: gave up." in page and "column-attempts" in page
