"""The import task through a real Redis broker and worker, started the way the page does."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import ImportRun, ListEntry

from .mal_xml import gzipped, mal_export_xml


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_upload_is_imported_by_a_real_worker(redis_broker, client, alice, titles):
    client.force_login(alice)
    export = [
        {"mal_id": 1, "title": "Cowboy Bebop", "status": "completed", "score": 10},
        {"mal_id": 30, "title": "Evangelion", "status": "on_hold", "score": 0, "episodes": 5},
    ]
    with start_worker(redis_broker, perform_ping_check=False, shutdown_timeout=10):
        response = client.post(
            "/me/import/",
            {
                "kind": "xml",
                "file": SimpleUploadedFile("l.xml.gz", gzipped(mal_export_xml(export))),
            },
        )
        assert response.status_code == 302
        run = ImportRun.objects.get(user=alice)
        deadline = time.monotonic() + 30
        while run.is_active and time.monotonic() < deadline:
            time.sleep(0.1)
            run.refresh_from_db()
    assert run.state == "done", run.error
    assert run.started_at is not None and run.heartbeat_at is not None
    assert {(e.anime_id, e.score) for e in ListEntry.objects.filter(user=alice)} == {
        (1, 10),
        (30, None),
    }
