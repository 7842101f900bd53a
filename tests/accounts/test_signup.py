from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_signup_creates_account_and_logs_in(client, django_user_model):
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    assert b"Animender" in page.content  # rendered inside the site layout
    response = client.post(
        "/accounts/signup/",
        {
            "email": "dana@example.com",
            "username": "dana",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        },
    )
    assert response.status_code == 302
    user = django_user_model.objects.get(username="dana")
    assert client.get("/").context["user"] == user


def test_login_form_requires_csrf_token(alice):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/accounts/login/", {"login": "alice", "password": "pw-alice-123"})
    assert response.status_code == 403
    page = strict.get("/accounts/login/")
    token = page.cookies["csrftoken"].value
    ok = strict.post(
        "/accounts/login/",
        {"login": "alice", "password": "pw-alice-123", "csrfmiddlewaretoken": token},
    )
    assert ok.status_code == 302


def test_wrong_password_is_refused(client, alice):
    response = client.post("/accounts/login/", {"login": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
