"""Computing and refreshing members' stored recommendations (services and the task)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ListEntry
from accounts.services import list_entry_set
from animender.runs import Claim
from catalog.franchises import franchise_index
from labeling.models import Label
from recommender.engines.services import training_run_create, training_run_execute
from recommender.ml.registry import ENGINES
from recommender.models import RecommendationRefresh, UserRecommendation
from recommender.personal import services as personal_services
from recommender.personal.services import (
    recommendations_refresh_execute,
    recommendations_refresh_request,
    user_recommendations_compute,
)
from recommender.personal.tasks import (
    reap_stale_refreshes_task,
    refresh_user_recommendations_task,
)

from .conftest import BEBOP, CODE_GEASS, DEATH_NOTE, FAST, FMA_B, STEINS_GATE

pytestmark = pytest.mark.django_db
State = RecommendationRefresh.State


def rate(user, mal_id, score=None, status="completed", **extra):
    return ListEntry.objects.create(user=user, anime_id=mal_id, score=score, status=status, **extra)


def stored(user, engine, section="discover") -> list[int]:
    return list(
        UserRecommendation.objects.filter(user=user, engine=engine, section=section)
        .order_by("rank")
        .values_list("anime_id", flat=True)
    )


@pytest.fixture
def fan(served, alice):
    """alice: a fan of Cowboy Bebop and FMA: Brotherhood who found Death Note dull."""
    rate(alice, BEBOP, 9)
    rate(alice, FMA_B, 10)
    rate(alice, DEATH_NOTE, 3)
    return alice


def test_never_recommends_listed_labeled_or_not_interested_titles(fan):
    rate(fan, CODE_GEASS, status="plan_to_watch")
    rate(fan, 20, status="dropped")  # Naruto
    ListEntry.objects.create(user=fan, anime_id=STEINS_GATE, status="", not_interested=True)
    Label.objects.create(user=fan, anime_id=30, answer="like")  # Evangelion
    Label.objects.create(user=fan, anime_id=269, answer="skip")  # Bleach
    user_recommendations_compute(user=fan)
    excluded = {BEBOP, FMA_B, DEATH_NOTE, CODE_GEASS, 20, STEINS_GATE, 30, 269}
    for engine in ENGINES:
        ids = stored(fan, engine)
        assert len(ids) == 120
        assert not set(ids) & excluded
    # The plan-to-watch title is in its own section, not among the discoveries.
    assert stored(fan, "knn_baseline", "plan_to_watch") == [CODE_GEASS]


def test_plan_to_watch_section_ranks_the_list_by_the_engine(fan):
    plan = [CODE_GEASS, STEINS_GATE, 20, 269, 30]
    for mal_id in plan:
        rate(fan, mal_id, status="plan_to_watch")
    user_recommendations_compute(user=fan)
    for engine in ENGINES:
        rows = list(
            UserRecommendation.objects.filter(user=fan, engine=engine, section="plan_to_watch")
        )
        assert sorted(r.anime_id for r in rows) == sorted(plan)
        scores = [r.score for r in sorted(rows, key=lambda r: r.rank)]
        ranked = [s for s in scores if s is not None]  # titles it did not rank come last
        assert scores[: len(ranked)] == sorted(ranked, reverse=True)


def test_cards_are_franchise_entry_points_one_per_franchise(fan):
    user_recommendations_compute(user=fan)
    index = franchise_index(show_adult=False)
    seen = {BEBOP, FMA_B, DEATH_NOTE}
    for engine in ENGINES:
        ids = stored(fan, engine)
        assert len({index.franchise_id(m) for m in ids}) == len(ids)
        # A later entry only when the member watched where its franchise starts.
        assert all(index.entry_point(m) == m or index.entry_point(m) in seen for m in ids)
        assert UserRecommendation.objects.filter(user=fan, engine=engine, entry_point=True)
    # Bebop is watched: its film may come up as "next", never Bebop itself.
    assert BEBOP not in stored(fan, "watchlist_nn")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_low_score_counts_against_the_titles_neighbours(served, alice, charlie, engine):
    for user, death_note in ((alice, 10), (charlie, 2)):
        rate(user, BEBOP, 9)
        rate(user, DEATH_NOTE, death_note)
        user_recommendations_compute(user=user)
    loved, disliked = stored(alice, engine), stored(charlie, engine)
    # Death Note's neighbours (the thrillers its fans watch) rank lower for charlie.
    top_for_fan = loved[:15]
    lower = [m for m in top_for_fan if m not in disliked or disliked.index(m) > loved.index(m)]
    assert len(lower) >= 10, (top_for_fan, disliked[:30])


def test_liked_labels_count_as_positive_entries(served, alice, charlie):
    for mal_id in (BEBOP, FMA_B, STEINS_GATE):
        Label.objects.create(user=alice, anime_id=mal_id, answer="like")
    user_recommendations_compute(user=alice)
    user_recommendations_compute(user=charlie)  # nothing to go on
    assert stored(charlie, "knn_baseline") == []
    rows = UserRecommendation.objects.filter(user=alice, engine="knn_baseline")
    assert rows.count() == 120
    named = {
        t["mal_id"] for r in rows for x in r.reasons if x["kind"] == "liked" for t in x["titles"]
    }
    assert named and named <= {BEBOP, FMA_B, STEINS_GATE}


def test_reasons_name_titles_the_member_liked_and_are_plain_words(fan):
    user_recommendations_compute(user=fan)
    rows = list(UserRecommendation.objects.filter(user=fan, engine="knn_baseline")[:20])
    liked = [x for r in rows for x in r.reasons if x["kind"] == "liked"]
    assert len(liked) >= 10
    # Only titles scored 7+ are "liked"; Death Note (3) never is.
    assert {t["mal_id"] for x in liked for t in x["titles"]} <= {BEBOP, FMA_B}
    from recommender.personal.reasons import reason_text

    assert reason_text(liked[0]).startswith("Because you liked ")
    # The predicted score is the item-KNN estimate, on the 1-10 scale.
    assert all(1 <= r.predicted_score <= 10 for r in rows)


def test_a_list_change_refreshes_through_the_task(
    served, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        list_entry_set(user=alice, mal_id=BEBOP, score=9)
        list_entry_set(user=alice, mal_id=FMA_B, score=10)
    # Debounced: the second change found a refresh queued and queued nothing more.
    assert len(callbacks) == 1
    state = RecommendationRefresh.objects.get(user=alice)
    assert state.state == State.DONE and state.runs == 1 and state.trigger == "list"
    assert set(state.engines) == set(ENGINES)
    before = stored(alice, "knn_baseline")
    assert before
    with django_capture_on_commit_callbacks(execute=True):
        list_entry_set(user=alice, mal_id=before[0], status="plan_to_watch")
    state.refresh_from_db()
    assert state.runs == 2
    assert before[0] not in stored(alice, "knn_baseline")
    assert before[0] in stored(alice, "knn_baseline", "plan_to_watch")


def test_the_task_received_twice_runs_once(fan, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert recommendations_refresh_request(user_id=fan.pk, trigger="list")
    assert len(callbacks) == 1
    assert refresh_user_recommendations_task(fan.pk) == State.DONE
    assert refresh_user_recommendations_task(fan.pk) == "not claimed"  # the redelivery
    assert RecommendationRefresh.objects.get(user=fan).runs == 1


def _running(user, *, at, attempts: int = 1) -> Claim:
    """A refresh row claimed at ``at`` by a worker (attempt ``attempts``), and its claim."""
    row = RecommendationRefresh.objects.create(
        user=user, state=State.RUNNING, attempts=attempts, started_at=at, heartbeat_at=at
    )
    return Claim(RecommendationRefresh, row.pk, at, attempts)


def _silent(settings) -> dt.datetime:
    limit = settings.RUN_STALE_AFTER_OVERRIDES.get("refresh", settings.RUN_STALE_AFTER_SECONDS)
    return timezone.now() - dt.timedelta(seconds=limit + 5)


def test_a_request_while_running_runs_once_more_after_it(fan, django_capture_on_commit_callbacks):
    claim = _running(fan, at=timezone.now(), attempts=2)
    with django_capture_on_commit_callbacks() as callbacks:
        assert not recommendations_refresh_request(user_id=fan.pk, trigger="label")
        assert not recommendations_refresh_request(user_id=fan.pk, trigger="label")
    assert callbacks == []
    assert RecommendationRefresh.objects.get(user=fan).rerun
    with django_capture_on_commit_callbacks() as callbacks:
        assert personal_services._finish(claim, State.DONE)
    assert len(callbacks) == 1
    state = RecommendationRefresh.objects.get(user=fan)
    # The request that came in is a new one: its attempts count from zero.
    assert state.state == State.QUEUED and not state.rerun and state.attempts == 0
    assert recommendations_refresh_execute(user_id=fan.pk) == State.DONE
    assert RecommendationRefresh.objects.get(user=fan).attempts == 1


def test_a_silent_refresh_is_reaped_and_its_lost_worker_changes_nothing(
    fan, settings, django_capture_on_commit_callbacks
):
    lost = _running(fan, at=_silent(settings))
    with django_capture_on_commit_callbacks(execute=True):
        reaped = reap_stale_refreshes_task()
    assert reaped["requeued"] == [lost.pk]
    state = RecommendationRefresh.objects.get(user=fan)
    assert (state.state, state.attempts, state.runs) == (State.DONE, 2, 1)
    # The lost worker, if it ever finishes, cannot close the newer claim.
    assert not personal_services._finish(lost, State.FAILED, error="late")
    state.refresh_from_db()
    assert (state.state, state.error, state.runs) == (State.DONE, "", 1)


def test_a_refresh_that_used_its_attempts_stays_failed_until_a_new_request(
    fan, client, settings, django_capture_on_commit_callbacks
):
    client.force_login(fan)
    cap = settings.RUN_MAX_ATTEMPTS
    _running(fan, at=_silent(settings), attempts=cap)
    with django_capture_on_commit_callbacks(execute=True) as sent:
        reaped = reap_stale_refreshes_task()
    assert reaped["failed"] and not reaped["requeued"] and sent == []
    state = RecommendationRefresh.objects.get(user=fan)
    assert state.state == State.FAILED and f"Attempt {cap} of {cap}: gave up" in state.error
    shown = client.get("/api/me/recommendations/?limit=1").json()["refresh"]
    assert (shown["status"], shown["attempts"], shown["max_attempts"]) == ("failed", cap, cap)
    assert "gave up" in shown["error"]
    page = client.get("/me/recommendations/").content.decode()
    assert f"The last update failed after {cap} attempts" in page and "gave up" in page
    # A new request starts over with fresh attempts.
    with django_capture_on_commit_callbacks():
        assert recommendations_refresh_request(user_id=fan.pk, trigger="list")
    state.refresh_from_db()
    assert (state.state, state.attempts, state.error) == (State.QUEUED, 0, "")


def test_a_request_made_while_a_lost_refresh_ran_is_not_lost_with_it(
    fan, settings, django_capture_on_commit_callbacks
):
    cap = settings.RUN_MAX_ATTEMPTS
    _running(fan, at=_silent(settings), attempts=cap)
    RecommendationRefresh.objects.filter(user=fan).update(rerun=True, trigger="label")
    with django_capture_on_commit_callbacks(execute=True):
        reap_stale_refreshes_task()
    state = RecommendationRefresh.objects.get(user=fan)
    assert (state.state, state.attempts, state.runs) == (State.DONE, 1, 1)


def test_a_retrain_refreshes_every_member(
    fan, charlie, settings, tmp_path, mini_data_dir, django_capture_on_commit_callbacks
):
    rate(charlie, STEINS_GATE, 8)
    call_command("import_ratings", str(mini_data_dir / "ratings.csv"))
    settings.MODEL_DIR = tmp_path / "retrained"
    with django_capture_on_commit_callbacks(execute=True):
        run = training_run_create(engine="knn_baseline", params=FAST["knn_baseline"])
        assert training_run_execute(run_id=run.pk).state == "done"
    run.refresh_from_db()
    for user in (fan, charlie):
        state = RecommendationRefresh.objects.get(user=user)
        assert state.trigger == "retrain" and state.state == State.DONE
        assert state.engines["knn_baseline"]["version"] == run.version
        assert stored(user, "knn_baseline")


def test_a_batch_past_its_time_hands_the_rest_to_a_new_batch(
    fan, charlie, settings, django_capture_on_commit_callbacks
):
    from recommender.personal.tasks import refresh_user_recommendations_batch_task

    rate(charlie, STEINS_GATE, 8)
    settings.RECOMMENDATIONS_REFRESH_BATCH_SECONDS = 0  # every batch is "late" after one
    with django_capture_on_commit_callbacks() as sent:
        assert personal_services.recommendations_refresh_all(trigger="retrain") == 2
    assert len(sent) == 1  # both members in one batch (the default size is 50)
    with django_capture_on_commit_callbacks() as handed_on:
        assert refresh_user_recommendations_batch_task([fan.pk, charlie.pk]) == 1
    assert RecommendationRefresh.objects.get(user=fan).state == State.DONE
    assert RecommendationRefresh.objects.get(user=charlie).state == State.QUEUED
    assert len(handed_on) == 1
    handed_on[0]()  # the new batch (eager here) runs charlie's refresh
    assert RecommendationRefresh.objects.get(user=charlie).state == State.DONE
    assert refresh_user_recommendations_batch_task([fan.pk, charlie.pk]) == 0  # redelivered


def test_hidden_adult_titles_are_never_stored(fan):
    user_recommendations_compute(user=fan)
    top = stored(fan, "knn_baseline")[:3]
    from catalog.models import Anime

    Anime.objects.filter(mal_id__in=top).update(is_adult=True)
    user_recommendations_compute(user=fan)
    assert not set(top) & set(stored(fan, "knn_baseline"))
    assert len(stored(fan, "knn_baseline")) == 120


def test_a_hybrids_contributions_decide_which_reasons_come_first():
    from recommender.personal.services import ReasonSources, _card_reasons

    src = ReasonSources(
        taste={5: 0.9},
        taste_features=["genre:Mecha", "studio:Sunrise"],
        title_features={5: {"genre:Mecha", "genre:Drama"}},
        titles={1: "Cowboy Bebop"},
    )
    args = dict(engine="hybrid", mal_id=5, liked_ids=[1], fallback=False, src=src)
    first_taste = _card_reasons(components=["taste", "knn_baseline"], **args)
    assert [r["kind"] for r in first_taste] == ["taste", "liked"]
    assert first_taste[0]["features"] == ["Mecha"]
    first_liked = _card_reasons(components=["ease", "watchlist_nn"], **args)
    assert [r["kind"] for r in first_liked] == ["liked", "community"]
    assert first_liked[0]["titles"] == [{"mal_id": 1, "title": "Cowboy Bebop"}]


@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_served_engines_cards_say_why_in_words(fan, engine):
    from recommender.personal.reasons import reasons_text

    user_recommendations_compute(user=fan)
    rows = list(UserRecommendation.objects.filter(user=fan, engine=engine).order_by("rank")[:30])
    assert len(rows) == 30
    assert all(reasons_text(r.reasons) for r in rows)
    named = {
        t["mal_id"] for r in rows for x in r.reasons if x["kind"] == "liked" for t in x["titles"]
    }
    assert named and named <= {BEBOP, FMA_B}  # only titles the member liked
