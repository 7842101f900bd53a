"""POST /api/me/labels/, GET/DELETE /api/me/labels/{id}/: owner-only, 4xx JSON on bad input."""

from __future__ import annotations

import pytest

from labeling.models import Label

pytestmark = pytest.mark.django_db

LABELS = "/api/me/labels/"


def post(client, **body):
    return client.post(LABELS, body, content_type="application/json")


def test_answering_creates_a_label_and_reports_progress(alice_client, alice, catalog):
    resp = post(alice_client, mal_id=catalog[0].mal_id, answer="like", reason="cold_start")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["label"]["mal_id"] == catalog[0].mal_id
    assert body["label"]["answer"] == "like"
    assert body["progress"]["likes"] == 1
    assert body["progress"]["labels_until_retrain"] == 9
    label = Label.objects.get(user=alice)
    assert (label.anime_id, label.reason) == (catalog[0].mal_id, "cold_start")


def test_answering_again_changes_the_answer(alice_client, alice, catalog):
    post(alice_client, mal_id=catalog[0].mal_id, answer="like")
    resp = post(alice_client, mal_id=catalog[0].mal_id, answer="dislike")
    assert resp.status_code == 200
    assert Label.objects.get(user=alice).answer == "dislike"


def test_skips_do_not_count_towards_the_retrain(alice_client, catalog):
    resp = post(alice_client, mal_id=catalog[0].mal_id, answer="skip")
    assert resp.json()["progress"] == {
        **resp.json()["progress"],
        "skips": 1,
        "labels_given": 0,
        "labels_until_retrain": 10,
    }


@pytest.mark.parametrize(
    "body, key",
    [
        ({"mal_id": 1000, "answer": "love"}, "answer"),
        ({"mal_id": 999_999, "answer": "like"}, "mal_id"),
        ({"answer": "like"}, "mal_id"),
        ({"mal_id": "x", "answer": "like"}, "mal_id"),
    ],
)
def test_bad_answers_get_400_json_naming_the_field(alice_client, catalog, body, key):
    resp = alice_client.post(LABELS, body, content_type="application/json")
    assert resp.status_code == 400
    assert key in resp.json()
    assert not Label.objects.exists()


def test_adult_titles_cannot_be_labeled_unless_shown(alice_client, alice, catalog):
    adult = next(a for a in catalog if a.is_adult)
    assert post(alice_client, mal_id=adult.mal_id, answer="like").status_code == 400


def test_labels_are_the_owners_only(client, alice, charlie, catalog):
    label = Label.objects.create(user=alice, anime=catalog[0], answer="like")
    client.force_login(charlie)
    assert client.get(f"{LABELS}{label.pk}/").status_code == 404
    assert client.delete(f"{LABELS}{label.pk}/").status_code == 404
    assert client.get(LABELS).json()["count"] == 0
    assert Label.objects.filter(pk=label.pk).exists()
    client.force_login(alice)
    got = client.get(f"{LABELS}{label.pk}/")
    assert got.status_code == 200 and got.json()["answer"] == "like"
    assert client.get(LABELS).json()["results"][0]["id"] == label.pk


def test_delete_undoes_a_label_and_returns_progress(alice_client, alice, catalog):
    label_id = post(alice_client, mal_id=catalog[0].mal_id, answer="dislike").json()["label"]["id"]
    resp = alice_client.delete(f"{LABELS}{label_id}/")
    assert resp.status_code == 200
    assert resp.json()["dislikes"] == 0
    assert not Label.objects.filter(user=alice).exists()


def test_session_clients_need_the_csrf_token(alice, catalog):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    resp = strict.post(
        LABELS, {"mal_id": catalog[0].mal_id, "answer": "like"}, content_type="application/json"
    )
    assert resp.status_code == 403
    assert not Label.objects.exists()


def test_anonymous_visitors_cannot_label(client, catalog):
    assert post(client, mal_id=catalog[0].mal_id, answer="like").status_code == 403
