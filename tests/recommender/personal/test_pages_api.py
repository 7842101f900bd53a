"""The recommendations page, its card actions and GET /api/me/recommendations/."""

from __future__ import annotations

import re

import pytest

from accounts.models import ListEntry
from catalog.models import Anime
from labeling.models import Label
from recommender.engines import selectors as serving
from recommender.ml.registry import ENGINES
from recommender.models import UserRecommendation
from recommender.personal.selectors import ENGINE_ORDER
from recommender.personal.services import user_recommendations_compute

from .conftest import BEBOP, DEATH_NOTE, DEFAULT, FMA_B

pytestmark = pytest.mark.django_db
PAGE = "/me/recommendations/"
API = "/api/me/recommendations/"


def rate(user, mal_id, score=None, status="completed"):
    return ListEntry.objects.create(user=user, anime_id=mal_id, score=score, status=status)


@pytest.fixture
def fan(served, alice):
    rate(alice, BEBOP, 9)
    rate(alice, FMA_B, 10)
    rate(alice, DEATH_NOTE, 3)
    user_recommendations_compute(user=alice)
    return alice


@pytest.fixture
def fan_client(client, fan):
    client.force_login(fan)
    return client


def api(client, **params):
    response = client.get(API, params)
    assert response.status_code == 200, response.content
    return response.json()


def card_ids(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'data-mal-id="(\d+)"', html)]


def card_predictions(html: str) -> dict[int, float | None]:
    """Each card's title id: the score on its predicted-score line, or None without one."""
    cards = re.split(r'<li class="card rec-card" data-mal-id="', html)[1:]
    shown = {}
    for card in cards:
        mal_id = int(re.match(r"\d+", card).group())
        line = re.search(r'<p class="rec-predicted"[^>]*>(.*?)</p>', card, flags=re.S)
        if line is None:
            shown[mal_id] = None
            continue
        text = re.sub(r"<[^>]+>", "", line.group(1))
        number = re.fullmatch(r"(You’d rate it|Item KNN is less sure:) about (\d+\.\d)", text)
        assert number, f"card {mal_id}: predicted-score line {text!r}"
        shown[mal_id] = float(number.group(2))
    return shown


def stored(user, engine):
    return list(
        UserRecommendation.objects.filter(user=user, engine=engine, section="discover")
        .order_by("rank")
        .values_list("anime_id", flat=True)
    )


def test_page_shows_cards_with_reasons_scores_and_actions(fan_client, fan):
    response = fan_client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    ids = card_ids(html)
    assert ids == stored(fan, DEFAULT)[:24]  # the default engine, best first
    assert "Because you liked" in html
    # Every card shows its own stored item-KNN estimate, to one decimal.
    predicted = dict(
        UserRecommendation.objects.filter(
            user=fan, engine=DEFAULT, section="discover", anime_id__in=ids
        ).values_list("anime_id", "predicted_score")
    )
    shown = card_predictions(html)
    assert list(shown) == ids
    for mal_id, score in shown.items():
        assert score is not None and predicted[mal_id] is not None, f"card {mal_id}: no score"
        assert score == pytest.approx(predicted[mal_id], abs=0.05 + 1e-9), mal_id
    assert "You’d rate it about" in html
    assert html.count('name="action" value="plan"') == 24
    assert html.count('name="action" value="not_interested"') == 24
    assert html.count('name="action" value="rate"') == 24
    assert "None" not in re.sub(r"<script.*?</script>", "", html, flags=re.S)


def test_api_gives_reasons_scores_and_pages(fan_client, fan):
    body = api(fan_client, limit=5)
    assert body["engine"] == DEFAULT and not body["cold_start"]
    assert [e["name"] for e in body["engines"]] == [e for e in ENGINE_ORDER if e in ENGINES]
    assert body["count"] == 120 and body["next_offset"] == 5
    first = body["results"][0]
    assert first["rank"] == 1 and first["title"] and first["reason"]
    assert first["reasons"][0]["text"] == first["reason"]
    assert 1 <= first["predicted_score"] <= 10
    more = api(fan_client, limit=5, offset=5)
    assert [r["rank"] for r in more["results"]] == [6, 7, 8, 9, 10]


def test_engine_switch_shows_each_engines_own_list(fan_client, fan):
    lists = {}
    for engine in ENGINES:
        body = api(fan_client, engine=engine, limit=30)
        assert body["engine"] == engine
        lists[engine] = [r["mal_id"] for r in body["results"]]
        assert lists[engine] == stored(fan, engine)[:30]
    assert lists["knn_baseline"] != lists["watchlist_nn"]
    page = fan_client.get(PAGE, {"engine": "knn_baseline"}).content.decode()
    assert card_ids(page) == stored(fan, "knn_baseline")[:24]
    assert 'aria-current="page">Item KNN with baseline' in page
    compare = fan_client.get(PAGE, {"view": "compare"}).content.decode()
    assert "Neural watch-list model" in compare and "Item KNN with baseline" in compare
    for engine in ENGINES:
        top = Anime.objects.get(mal_id=stored(fan, engine)[0])
        assert f'href="/anime/{top.mal_id}/"' in compare
    assert fan_client.get(API, {"engine": "nope"}).status_code == 400


@pytest.mark.parametrize(
    "params, check",
    [
        ({"type": "movie"}, lambda a: a.media_type == "movie"),
        ({"genre": "Comedy"}, lambda a: "Comedy" in {g.name for g in a.genres.all()}),
        ({"min_score": 8.0}, lambda a: a.mean is not None and a.mean >= 8.0),
        ({"status": "currently_airing"}, lambda a: a.status == "currently_airing"),
        ({"year": 2006}, lambda a: a.start_year == 2006),
        ({"season": "spring"}, lambda a: a.start_season == "spring"),
        (
            {"episodes_min": 10, "episodes_max": 13},
            lambda a: a.num_episodes is not None and 10 <= a.num_episodes <= 13,
        ),
    ],
)
def test_filters_keep_only_matching_titles_in_rank_order(fan_client, fan, params, check):
    if "status" in params:  # the CSV catalog has no airing status; a synced one does
        Anime.objects.filter(mal_id__in=stored(fan, "knn_baseline")[::3]).update(
            status="currently_airing"
        )
    body = api(fan_client, engine="knn_baseline", limit=100, **params)
    ids = [r["mal_id"] for r in body["results"]]
    assert 0 < len(ids) < 120
    rows = Anime.objects.in_bulk(ids)
    assert all(check(rows[m]) for m in ids)
    assert [r["rank"] for r in body["results"]] == sorted(r["rank"] for r in body["results"])
    # Nothing that matches is left out.
    everything = Anime.objects.in_bulk(stored(fan, "knn_baseline"))
    assert len(ids) == body["count"] == sum(check(a) for a in everything.values())
    page = fan_client.get(PAGE, {"engine": "knn_baseline", **params})
    assert page.status_code == 200
    assert card_ids(page.content.decode()) == ids[:24]


def test_bad_filters_are_400s_naming_the_parameter(fan_client):
    response = fan_client.get(API, {"min_score": "high", "episodes_min": 5, "episodes_max": 2})
    assert response.status_code == 400
    assert set(response.json()) >= {"min_score"}
    response = fan_client.get(API, {"episodes_min": 5, "episodes_max": 2})
    assert response.status_code == 400 and "episodes_max" in response.json()
    page = fan_client.get(PAGE, {"type": "comic"})
    assert page.status_code == 400 and "Some filters could not be used" in page.content.decode()


def test_surprise_me_leaves_out_the_most_popular_titles(fan_client, fan, settings):
    settings.RECOMMENDATIONS_SURPRISE_SKIP_POPULAR = 500
    normal = api(fan_client, engine="knn_baseline", limit=100)
    surprise = api(fan_client, engine="knn_baseline", limit=100, surprise="true")
    popularity = dict(Anime.objects.values_list("mal_id", "popularity"))
    assert any(popularity[r["mal_id"]] <= 500 for r in normal["results"])
    assert surprise["results"]
    assert all(
        popularity[r["mal_id"]] is None or popularity[r["mal_id"]] > 500
        for r in surprise["results"]
    )
    page = fan_client.get(PAGE, {"engine": "knn_baseline", "surprise": "1"}).content.decode()
    assert "Hidden gems for you" in page
    assert card_ids(page) == [r["mal_id"] for r in surprise["results"]][:24]


def test_new_member_gets_popular_titles_and_a_prompt(served, client, charlie):
    client.force_login(charlie)
    html = client.get(PAGE).content.decode()
    assert "Import your MyAnimeList list" in html and "Label ten titles" in html
    assert 'href="/me/import/"' in html and 'href="/label/"' in html
    popular = list(
        Anime.objects.filter(is_adult=False, popularity__isnull=False)
        .order_by("popularity")
        .values_list("mal_id", flat=True)[:24]
    )
    assert card_ids(html) == popular
    body = api(client)
    assert body["cold_start"] and body["engine"] is None
    assert [r["mal_id"] for r in body["results"]] == popular
    assert body["results"][0]["reasons"][0]["kind"] == "popular"


def test_new_member_rating_popular_titles_gets_recommendations(
    served, client, charlie, django_capture_on_commit_callbacks
):
    client.force_login(charlie)
    with django_capture_on_commit_callbacks(execute=True):
        for mal_id, score in ((BEBOP, 9), (FMA_B, 10)):
            response = client.post(
                f"{PAGE}{mal_id}/", {"action": "rate", "score": score, "mode": "popular"}
            )
            assert response.status_code == 302
    html = client.get(PAGE).content.decode()
    assert "Because you liked" in html
    assert not {BEBOP, FMA_B} & set(card_ids(html))


def test_card_actions_without_javascript(fan_client, fan, django_capture_on_commit_callbacks):
    first, second, third = stored(fan, DEFAULT)[:3]
    with django_capture_on_commit_callbacks(execute=True):
        r1 = fan_client.post(f"{PAGE}{first}/", {"action": "plan", "next": PAGE + "?type=tv"})
        r2 = fan_client.post(f"{PAGE}{second}/", {"action": "not_interested"})
        fan_client.post(f"{PAGE}{third}/", {"action": "rate", "score": "8"})
    assert r1.status_code == 302 and r1["Location"] == PAGE + "?type=tv"
    assert r2["Location"] == PAGE
    entries = {e.anime_id: e for e in ListEntry.objects.filter(user=fan)}
    assert entries[first].status == "plan_to_watch"
    assert entries[second].not_interested and entries[second].status == ""
    assert entries[third].status == "completed" and entries[third].score == 8
    body = api(fan_client, limit=100)
    assert not {first, second, third} & {r["mal_id"] for r in body["results"]}
    plan = api(fan_client, section="plan_to_watch")
    assert [r["mal_id"] for r in plan["results"]] == [first]
    html = fan_client.get(PAGE).content.decode()
    assert "Next from your plan-to-watch list" in html
    bad = fan_client.post(f"{PAGE}{first}/", {"action": "rate", "score": "11"}, follow=True)
    assert "Not saved" in bad.content.decode()


def test_card_action_with_javascript_returns_the_next_card(fan_client, fan):
    shown = stored(fan, DEFAULT)[:24]
    acted = shown[3]
    response = fan_client.post(
        f"{PAGE}{acted}/",
        {"action": "plan", "shown": ",".join(map(str, shown)), "next": PAGE},
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "to plan to watch" in re.search(r'data-message="([^"]*)"', html).group(1)
    # The best stored card not on the page yet takes its place.
    assert card_ids(html) == [next(m for m in stored(fan, DEFAULT) if m not in shown)]
    assert ListEntry.objects.get(user=fan, anime_id=acted).status == "plan_to_watch"
    bad = fan_client.post(f"{PAGE}{acted}/", {"action": "explode"}, HTTP_X_REQUESTED_WITH="fetch")
    assert bad.status_code == 400 and "Not saved" in bad.content.decode()


def test_labels_hide_titles_at_once(fan_client, fan):
    top = stored(fan, DEFAULT)[0]
    Label.objects.create(user=fan, anime_id=top, answer="dislike")  # no refresh has run yet
    assert top not in [r["mal_id"] for r in api(fan_client, limit=50)["results"]]


def test_a_request_never_loads_a_model(fan_client, fan, settings, tmp_path):
    expected = stored(fan, DEFAULT)[:24]
    serving._cache.clear()
    settings.MODEL_DIR = tmp_path / "no-models-here"
    assert [r["mal_id"] for r in api(fan_client, limit=24)["results"]] == expected
    assert card_ids(fan_client.get(PAGE).content.decode()) == expected
    assert serving._cache == {}


def test_members_see_only_their_own_recommendations(fan, client, charlie):
    client.force_login(charlie)
    rate(charlie, 30, 9)  # Evangelion
    user_recommendations_compute(user=charlie)
    theirs = api(client, limit=100)
    assert [r["mal_id"] for r in theirs["results"]] == stored(charlie, DEFAULT)[:100]
    assert theirs["results"] != [r for r in stored(fan, DEFAULT)[:100]]
    assert card_ids(client.get(PAGE).content.decode()) == stored(charlie, DEFAULT)[:24]
    # Acting on a card changes only the actor's own list.
    target = stored(fan, DEFAULT)[0]
    client.post(f"{PAGE}{target}/", {"action": "not_interested"})
    assert not ListEntry.objects.filter(user=fan, anime_id=target).exists()
    assert ListEntry.objects.get(user=charlie, anime_id=target).not_interested


def test_anonymous_visitors_get_401_or_the_login_page(fan, client):
    response = client.get(API)
    assert response.status_code == 401 and "detail" in response.json()
    page = client.get(PAGE)
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    post = client.post(f"{PAGE}{BEBOP}/", {"action": "plan"})
    assert post.status_code == 302 and "/accounts/login/" in post["Location"]
    assert not ListEntry.objects.filter(anime_id=BEBOP).exclude(user=fan).exists()


def test_api_token_reads_the_tokens_owner_only(fan, client):
    from accounts.services import api_token_create

    _, key = api_token_create(user=fan, name="script")
    body = client.get(API, {"limit": 3}, HTTP_AUTHORIZATION=f"Token {key}").json()
    assert [r["mal_id"] for r in body["results"]] == stored(fan, DEFAULT)[:3]


def test_schema_documents_the_endpoint_with_examples(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    op = schema["paths"][API]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"engine", "type", "genre", "min_score", "limit", "offset", "surprise"} <= names
    assert {"Recommendations", "NewMember"} <= set(
        op["responses"]["200"]["content"]["application/json"]["examples"]
    )


def test_an_imported_mal_list_becomes_recommendations(
    served, client, charlie, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from recommender.models import RecommendationRefresh
    from tests.accounts.mal_xml import mal_export_xml

    client.force_login(charlie)
    export = [
        {"mal_id": BEBOP, "title": "Cowboy Bebop", "status": "completed", "score": 9},
        {"mal_id": FMA_B, "title": "FMA:B", "status": "completed", "score": 10},
        {"mal_id": DEATH_NOTE, "title": "Death Note", "status": "plan_to_watch", "score": 0},
    ]
    upload = SimpleUploadedFile("animelist.xml", mal_export_xml(export))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/me/import/", {"kind": "xml", "file": upload})
    assert response.status_code == 302
    state = RecommendationRefresh.objects.get(user=charlie)
    assert state.state == "done" and state.trigger == "import"
    body = api(client, limit=10)
    assert not body["cold_start"] and len(body["results"]) == 10
    assert not {BEBOP, FMA_B, DEATH_NOTE} & {r["mal_id"] for r in body["results"]}
    plan = api(client, section="plan_to_watch")
    assert [r["mal_id"] for r in plan["results"]] == [DEATH_NOTE]


def test_pending_refresh_is_polled_and_offered_without_a_reload(fan_client, fan):
    from recommender.models import RecommendationRefresh

    html = fan_client.get(PAGE).content.decode()
    assert "data-refresh-pending" not in html  # nothing pending after the compute

    RecommendationRefresh.objects.update_or_create(
        user=fan, defaults={"state": RecommendationRefresh.State.QUEUED}
    )
    html = fan_client.get(PAGE).content.decode()
    # The script polls the member's own API for the refresh's state.
    assert f'data-refresh-pending="{API}"' in html
    assert "Updating with your latest changes" in html
    assert api(fan_client, limit=1)["refresh"]["status"] == "queued"
