"""Account pages: settings, tokens in settings, deletion, and allauth's flows in our layout."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import ApiToken, ImportRun, ListEntry, Profile
from labeling.models import Label

pytestmark = pytest.mark.django_db


def test_settings_defaults_and_save(alice_client, alice):
    page = alice_client.get("/me/settings/")
    form = page.context["form"]
    assert form["show_adult"].value() is False and form["list_private"].value() is True
    assert form["title_language"].value() == "romaji"
    response = alice_client.post(
        "/me/settings/",
        {"mal_username": "alice_mal", "title_language": "japanese", "list_private": "on"},
    )
    assert response.status_code == 302
    profile = Profile.objects.get(user=alice)
    assert (profile.mal_username, profile.title_language, profile.show_adult) == (
        "alice_mal",
        "japanese",
        False,
    )
    bad = alice_client.post("/me/settings/", {"title_language": "klingon"})
    assert bad.status_code == 400 and "Select a valid choice" in bad.content.decode()


def test_tokens_created_listed_used_and_revoked_in_settings(alice_client, alice):
    created = alice_client.post("/me/settings/tokens/", {"name": "my script"})
    html = created.content.decode()
    key = re.search(r'<code class="token-key">(anm_[^<]+)</code>', html).group(1)
    assert created["Cache-Control"] == "no-store"
    assert "my script" in html
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/me/").status_code == 200
    listed = alice_client.get("/me/settings/").content.decode()
    assert key not in listed and key[:12] in listed  # never shown again, only its start
    token = ApiToken.objects.get(user=alice)
    assert token.last_used_at is not None
    alice_client.post(f"/me/settings/tokens/{token.pk}/revoke/")
    assert api.get("/api/me/").status_code == 401


def test_tokens_of_others_cannot_be_revoked(client, alice, charlie):
    from accounts.services import api_token_create

    token, _ = api_token_create(user=alice, name="alice's")
    client.force_login(charlie)
    assert client.post(f"/me/settings/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_account_deletion_needs_the_password_and_removes_every_personal_row(
    alice_client,
    alice,
    charlie,
    titles,
    django_user_model,
    settings,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    settings.MODEL_DIR = tmp_path / "models"
    from accounts.services import api_token_create, profile_get_or_create

    profile_get_or_create(user=alice)
    ListEntry.objects.create(user=alice, anime_id=1, status="completed", score=9)
    ListEntry.objects.create(user=charlie, anime_id=1, status="completed", score=4)
    Label.objects.create(user=alice, anime_id=5, answer="like")
    ImportRun.objects.create(user=alice, source="xml", state="done")
    api_token_create(user=alice, name="x")
    wrong = alice_client.post("/me/delete/", {"password": "nope", "confirm": "on"})
    assert wrong.status_code == 400 and "not correct" in wrong.content.decode()
    assert django_user_model.objects.filter(username="alice").exists()
    unconfirmed = alice_client.post("/me/delete/", {"password": "pw-alice-123"})
    assert unconfirmed.status_code == 400
    from labeling.taste.runs import user_artifacts_root

    model_file = user_artifacts_root() / str(alice.pk) / "v1" / "model.txt"
    model_file.parent.mkdir(parents=True)
    model_file.write_text("a member's taste model")
    with django_capture_on_commit_callbacks(execute=True):
        done = alice_client.post("/me/delete/", {"password": "pw-alice-123", "confirm": "on"})
    assert done.status_code == 302
    assert not (user_artifacts_root() / str(alice.pk)).exists()  # model files go too
    assert not django_user_model.objects.filter(username="alice").exists()
    for model in (ListEntry, Label, ImportRun, ApiToken, Profile):
        assert not model.objects.filter(user_id=alice.pk).exists(), model
    assert ListEntry.objects.filter(user=charlie).count() == 1  # others untouched
    assert "_auth_user_id" not in alice_client.session


def test_logout_by_post(alice_client):
    page = alice_client.get("/")
    assert b'action="/accounts/logout/"' in page.content
    response = alice_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in alice_client.session


def test_password_change(alice_client, alice):
    page = alice_client.get("/accounts/password/change/")
    assert page.status_code == 200 and b"Animender" in page.content
    response = alice_client.post(
        "/accounts/password/change/",
        {
            "oldpassword": "pw-alice-123",
            "password1": "a-new-long-passphrase-7",
            "password2": "a-new-long-passphrase-7",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a-new-long-passphrase-7")


def test_password_reset_by_mail(client, alice):
    assert client.get("/accounts/password/reset/").status_code == 200
    response = client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    done = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link.group(1),
        {"password1": "reset-passphrase-99", "password2": "reset-passphrase-99"},
    )
    assert done.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("reset-passphrase-99")


def test_signup_sends_a_verification_mail(client):
    client.post(
        "/accounts/signup/",
        {
            "email": "erin@example.com",
            "username": "erin",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        },
    )
    assert len(mail.outbox) == 1 and "erin@example.com" in mail.outbox[0].to
    link = re.search(r"http://testserver(/accounts/confirm-email/\S+)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    client.post(link.group(1))
    from allauth.account.models import EmailAddress

    assert EmailAddress.objects.get(email="erin@example.com").verified
