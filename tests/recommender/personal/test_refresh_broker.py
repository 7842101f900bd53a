"""A refresh message delivered twice through the real Redis broker runs once."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.core.management import call_command

from accounts.models import ListEntry
from catalog.franchises import franchise_index_invalidate
from recommender.engines import selectors as serving
from recommender.models import RecommendationRefresh, UserRecommendation
from recommender.personal.services import recommendations_refresh_request
from recommender.personal.tasks import refresh_user_recommendations_task

from .conftest import BEBOP, FMA_B


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_refresh_delivered_twice_runs_once_on_a_real_worker(
    redis_broker, trained_models, mini_data_dir, settings, django_user_model
):
    settings.MODEL_DIR = trained_models
    settings.RECOMMENDATIONS_REFRESH_DELAY_SECONDS = 0
    settings.RECOMMENDATIONS_STORED_PER_ENGINE = 50
    serving._cache.clear()
    call_command("import_catalog", str(mini_data_dir), "--no-progress")
    franchise_index_invalidate()
    alice = django_user_model.objects.create_user("alice", "a@example.com", "pw-alice-123")
    ListEntry.objects.create(user=alice, anime_id=BEBOP, status="completed", score=9)
    ListEntry.objects.create(user=alice, anime_id=FMA_B, status="completed", score=10)
    results = []

    def collect(sender=None, retval=None, **kwargs):
        if getattr(sender, "name", "") == refresh_user_recommendations_task.name:
            results.append(retval)

    task_postrun.connect(collect, weak=False)
    try:
        with start_worker(redis_broker, perform_ping_check=False, shutdown_timeout=10):
            assert recommendations_refresh_request(user_id=alice.pk, trigger="list")  # sent
            refresh_user_recommendations_task.delay(alice.pk)  # the same work, delivered again
            deadline = time.monotonic() + 60
            while len(results) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        task_postrun.disconnect(collect)
    assert sorted(results) == ["done", "not claimed"]
    state = RecommendationRefresh.objects.get(user=alice)
    assert state.state == "done" and state.runs == 1
    assert UserRecommendation.objects.filter(user=alice, engine="knn_baseline").count() == 50


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_retrain_sends_one_undelayed_message_per_batch_of_members(
    redis_broker, settings, django_user_model
):
    import base64
    import json
    import os

    import redis

    from recommender.personal.tasks import refresh_all_user_recommendations_task
    from tests.catalog.factories import AnimeFactory

    settings.RECOMMENDATIONS_REFRESH_BATCH_SIZE = 2
    AnimeFactory(mal_id=BEBOP)
    members = [
        django_user_model.objects.create_user(f"m{i}", f"m{i}@example.com", "pw-member-123")
        for i in range(6)
    ]
    for m in members:
        ListEntry.objects.create(user=m, anime_id=BEBOP, status="completed", score=9)
    editing = members[0]  # a list edit queued this member's refresh already
    RecommendationRefresh.objects.create(user=editing, state="queued")
    # A queue of this test's own: a worker of another test on the same broker must not
    # consume the messages before they are read.
    private = f"test-refresh-batches-{os.getpid()}"
    queue = redis.Redis.from_url(redis_broker.conf.broker_url)
    saved_routes = redis_broker.conf.task_routes

    def route(routes) -> None:
        redis_broker.conf.task_routes = routes
        redis_broker.amqp.flush_routes()
        redis_broker.amqp.__dict__.pop("router", None)  # cached with the old table

    route({"recommender.refresh_user_recommendations_batch": {"queue": private}})
    try:
        assert refresh_all_user_recommendations_task("retrain") == 5
        messages = [json.loads(m) for m in queue.lrange(private, 0, -1)]
    finally:
        route(saved_routes)
        queue.delete(private)
    names = [m["headers"]["task"] for m in messages]
    assert names == ["recommender.refresh_user_recommendations_batch"] * 3
    assert all(m["headers"].get("eta") is None for m in messages)  # not prefetched unbounded
    batches = [json.loads(base64.b64decode(m["body"]))[0][0] for m in messages]
    assert sorted(u for b in batches for u in b) == sorted(m.pk for m in members[1:])
    assert all(len(b) <= 2 for b in batches)
    states = dict(RecommendationRefresh.objects.values_list("user_id", "trigger"))
    assert all(states[m.pk] == "retrain" for m in members[1:])
