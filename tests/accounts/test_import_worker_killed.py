"""List imports on real worker processes that die mid-run, and one that outlives its claim."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import ImportRun, ListEntry
from accounts.tasks import reap_stale_imports_task
from tests.workers import (  # noqa: F401 (killable_broker is a fixture)
    KILLABLE_BROKER_URL,
    killable_broker,
    queued_messages,
    silent_server,
    wait_claimed,
    worker_kill,
    worker_start,
    worker_stop,
)

from .mal_xml import mal_export_xml

CAP = 2
# Cowboy Bebop is in the catalog; the other title is not, so the import asks MAL about it.
EXPORT = [
    {"mal_id": 1, "title": "Cowboy Bebop", "status": "completed", "score": 10},
    {"mal_id": 987654, "title": "Only On MAL", "status": "completed", "score": 7},
]


def _start_import(client) -> ImportRun:
    response = client.post(
        "/me/import/",
        {"kind": "xml", "file": SimpleUploadedFile("list.xml", mal_export_xml(EXPORT))},
    )
    assert response.status_code == 302
    return ImportRun.objects.filter(state="queued").get()


@pytest.mark.broker
@pytest.mark.usefixtures("killable_broker")
@pytest.mark.django_db(transaction=True)
def test_an_import_killed_max_attempts_times_stays_failed_and_a_late_finish_changes_nothing(
    client, alice, titles, settings, tmp_path
):
    client.force_login(alice)
    settings.RUN_STALE_AFTER_OVERRIDES = {"import": 0.0}  # every running row counts as silent
    settings.RUN_MAX_ATTEMPTS_OVERRIDES = {"import": CAP}
    # "MyAnimeList" accepts the details request of the missing title and never answers.
    mal = silent_server()
    env = {
        "MAL_CLIENT_ID": "test-client",
        "MAL_API_BASE_URL": f"http://127.0.0.1:{mal.getsockname()[1]}/v2",
        "MAL_TIMEOUT_SECONDS": "600",
        "MAL_MAX_RETRIES": "0",
        "MAL_REQUEST_INTERVAL_SECONDS": "0",
    }
    model_dir = tmp_path / "models"
    try:
        run = _start_import(client)
        for attempt in range(1, CAP + 1):
            worker = worker_start(
                model_dir=model_dir, broker_url=KILLABLE_BROKER_URL, heartbeat_seconds=3600, **env
            )
            try:
                wait_claimed(ImportRun, run.pk, attempt=attempt)
            finally:
                worker_kill(worker)
            reaped = reap_stale_imports_task.apply().result
            run.refresh_from_db()
            if attempt < CAP:
                assert reaped["requeued"] == [run.pk]
                assert run.state == "queued" and run.upload  # the upload is kept for a retry
                assert queued_messages() == 1  # the reaper sent it again
        assert reaped == {"requeued": [], "failed": [run.pk], "resent": []}
        assert (run.state, run.attempts, run.error_code) == ("failed", CAP, "interrupted")
        assert f"Attempt {CAP} of {CAP}: gave up" in run.error and run.upload is None
        assert queued_messages() == 0  # not queued again...
        assert reap_stale_imports_task.apply().result["requeued"] == []  # ...ever
        page = client.get(f"/me/import/{run.pk}/").content.decode()
        assert f"The import failed after {CAP} of {CAP} attempts." in page and "gave up" in page
        assert not ListEntry.objects.filter(user=alice).exists()

        # A worker that is only slow: the reaper gives up on its import while it waits on MAL.
        settings.RUN_MAX_ATTEMPTS_OVERRIDES = {"import": 1}
        slow = _start_import(client)  # the failed import no longer holds the member's slot
        worker = worker_start(
            model_dir=model_dir, broker_url=KILLABLE_BROKER_URL, heartbeat_seconds=3600, **env
        )
        try:
            wait_claimed(ImportRun, slow.pk, attempt=1)
            assert reap_stale_imports_task.apply().result["failed"] == [slow.pk]
            given_up = ImportRun.objects.get(pk=slow.pk)
        finally:
            # MAL goes away: the worker reports the title missing, saves the list and tries
            # to mark its run done.
            mal.close()
            worker_stop(worker)  # waits for its task to end
        assert worker.returncode == 0
    finally:
        mal.close()
    late = ImportRun.objects.get(pk=slow.pk)
    assert (late.state, late.error, late.finished_at, late.created) == (
        "failed",
        given_up.error,
        given_up.finished_at,
        0,
    )
    # The entries and "done" commit together or not at all: the list is as it was.
    assert not ListEntry.objects.filter(user=alice).exists()
