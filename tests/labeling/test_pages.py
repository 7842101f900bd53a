"""The labeling page and the "my model" page, through their URLs as a member sees them."""

from __future__ import annotations

import json
import re

import pytest

from labeling.models import Label, TasteTrainingRun
from labeling.taste.runs import taste_training_execute, taste_training_request

from .conftest import label_planted

pytestmark = pytest.mark.django_db


def test_pages_need_a_login(client):
    for url in ("/label/", "/me/model/"):
        resp = client.get(url)
        assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


def test_label_page_shows_a_full_card_and_the_keyboard_controls(alice_client, catalog):
    resp = alice_client.get("/label/")
    html = resp.content.decode()
    assert resp.status_code == 200
    first = resp.context["card"].anime
    assert first.title in html and first.synopsis in html
    assert f'value="{first.mal_id}"' in html
    for shortcut in (
        'aria-keyshortcuts="ArrowLeft"',
        'aria-keyshortcuts="ArrowRight"',
        'aria-keyshortcuts="Space ArrowDown"',
        'aria-keyshortcuts="z"',
    ):
        assert shortcut in html
    assert "labels until the next retrain" in html
    assert "/static/js/labeling.js" in html
    # The next cards are already on the page: the script shows them without a reload.
    data = json.loads(re.search(r'id="queue-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert len(data) == 10 and data[0]["mal_id"] == first.mal_id
    assert {
        "title",
        "picture",
        "mean",
        "episodes",
        "year",
        "media_type",
        "genres",
        "synopsis",
        "reason",
    } <= set(data[0])
    assert "None" not in re.sub(r"<script.*?</script>", "", html, flags=re.S)


def test_the_script_binds_the_documented_keys(client):
    from django.contrib.staticfiles import finders

    script = open(finders.find("js/labeling.js"), encoding="utf-8").read()
    for key, answer in (
        ("ArrowLeft", "dislike"),
        ("ArrowRight", "like"),
        ("ArrowDown", "skip"),
        ('" "', "skip"),
    ):
        assert re.search(rf'{re.escape(key)}: "{answer}"', script), key
    assert 'event.key === "z"' in script
    assert "innerHTML" not in script  # catalog text only ever goes in as textContent


def test_buttons_work_without_javascript(alice_client, alice, catalog):
    card = alice_client.get("/label/").context["card"]
    resp = alice_client.post(
        "/label/", {"mal_id": card.anime.mal_id, "answer": "like", "reason": card.reason}
    )
    assert resp.status_code == 302
    assert Label.objects.get(user=alice).anime_id == card.anime.mal_id
    nxt = alice_client.get("/label/").context["card"]
    assert nxt.anime.mal_id != card.anime.mal_id
    assert alice_client.post("/label/undo/").status_code == 302
    assert not Label.objects.filter(user=alice).exists()


def test_a_bad_form_answer_is_explained(alice_client, alice, catalog):
    resp = alice_client.post("/label/", {"mal_id": 999999, "answer": "like"}, follow=True)
    assert "no title with MAL id 999999" in resp.content.decode()
    assert not Label.objects.exists()


def test_catalog_text_is_escaped(alice_client, catalog):
    first = alice_client.get("/label/").context["card"].anime
    first.synopsis = "<script>alert(1)</script> & more"
    first.save()
    html = alice_client.get("/label/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_model_page_before_any_model_explains_what_to_do(alice_client, catalog):
    html = alice_client.get("/me/model/").content.decode()
    assert "No model yet" in html and "/label/" in html


def test_model_page_plots_the_learning_curve_pr_curve_and_features(alice_client, alice, catalog):
    label_planted(alice, catalog, 20)
    for extra in (0, 10, 20):
        if extra:
            label_planted(alice, catalog, 10, offset=10 + extra)
        taste_training_execute(run_id=taste_training_request(user=alice).pk)
    assert TasteTrainingRun.objects.filter(user=alice, state="done").count() == 3
    html = alice_client.get("/me/model/").content.decode()
    assert html.count("<svg") >= 4  # learning curve, PR curve, pushes up, pushes down
    assert "Learning curve" in html and "Precision-recall" in html
    # one point per run on the learning curve, with its label count in the tooltip
    assert len(re.findall(r"<circle[^>]*><title>\d+ labels: AP", html)) == 3
    assert "cdn" not in html.lower() and "<script" not in html.split("</header>")[1]
    assert "None" not in html


def test_retrain_button_explains_when_labels_are_missing(alice_client, catalog):
    resp = alice_client.post("/me/model/train/", follow=True)
    assert "Can&#x27;t train yet" in resp.content.decode()


def test_a_member_with_a_scored_list_is_offered_a_first_model(
    alice_client, alice, catalog, django_capture_on_commit_callbacks
):
    from .conftest import list_entry

    for anime in catalog[:12]:
        list_entry(alice, anime, score=9 if anime.title.startswith("Mecha") else 3)
    html = alice_client.get("/me/model/").content.decode()
    assert "You have 2 likes and 10 dislikes ready" in html
    with django_capture_on_commit_callbacks(execute=True):
        resp = alice_client.post("/me/model/train/", follow=True)
    run = TasteTrainingRun.objects.get(user=alice)
    assert run.state == "done", run.error
    assert run.n_from_list == 12
    assert "Training queued" in resp.content.decode()
