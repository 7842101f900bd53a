"""The member API: token auth, profile, list CRUD, bad input, throttling, owner-only."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken, ListEntry

pytestmark = pytest.mark.django_db


def test_token_obtain_and_use_then_revoke(alice, titles):
    api = APIClient()
    response = api.post(
        "/api/auth/token/",
        {"username": "alice", "password": "pw-alice-123", "name": "laptop"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    key = body["token"]
    assert key.startswith("anm_") and body["name"] == "laptop"
    stored = ApiToken.objects.get(user=alice)
    assert stored.key_hash != key and key not in stored.key_hash  # only the hash is kept
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    me = api.get("/api/me/")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert api.get("/api/auth/tokens/").json()[0]["prefix"] == key[:12]
    assert api.delete("/api/auth/token/current/").status_code == 204
    again = api.get("/api/me/")
    assert again.status_code == 401 and "revoked" in again.json()["detail"]


def test_token_obtain_rejects_wrong_password(alice):
    response = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["detail"] == ["Wrong user name or password."]
    assert not ApiToken.objects.exists()


def test_bearer_keyword_and_garbage_tokens(alice):
    from accounts.services import api_token_create

    _, key = api_token_create(user=alice, name="ci")
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert bearer.get("/api/me/").json()["username"] == "alice"
    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION="Token anm_not-a-real-key")
    assert key_client.get("/api/me/").status_code == 401
    key_client.credentials(HTTP_AUTHORIZATION="Token two parts")
    assert key_client.get("/api/me/").status_code == 401


def test_anonymous_gets_401_everywhere(titles):
    anon = APIClient()
    for method, url in [
        ("get", "/api/me/"),
        ("patch", "/api/me/"),
        ("get", "/api/me/list/"),
        ("post", "/api/me/list/"),
        ("get", "/api/me/list/1/"),
        ("patch", "/api/me/list/1/"),
        ("delete", "/api/me/list/1/"),
        ("get", "/api/me/list/export.xml"),
        ("get", "/api/me/imports/"),
        ("post", "/api/me/imports/"),
        ("get", "/api/me/imports/1/"),
        ("get", "/api/auth/tokens/"),
    ]:
        response = getattr(anon, method)(url, {}, format="json")
        assert response.status_code == 401, (method, url)
        assert response["WWW-Authenticate"].startswith("Token")
        assert "detail" in response.json()


def test_profile_read_and_update(alice_api):
    assert alice_api.get("/api/me/").json()["list_private"] is True  # private by default
    response = alice_api.patch(
        "/api/me/",
        {"mal_username": "alice_mal", "title_language": "english", "show_adult": True},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["mal_username"], body["title_language"], body["show_adult"]) == (
        "alice_mal",
        "english",
        True,
    )
    bad = alice_api.patch("/api/me/", {"title_language": "klingon"}, format="json")
    assert bad.status_code == 400 and "title_language" in bad.json()


def test_list_create_read_update_delete(alice_api, titles):
    created = alice_api.post(
        "/api/me/list/", {"mal_id": 1, "status": "completed", "score": 9}, format="json"
    )
    assert created.status_code == 201
    assert created.json()["title"] == "Cowboy Bebop" and created.json()["score"] == 9
    alice_api.post("/api/me/list/", {"mal_id": 6, "status": "watching"}, format="json")
    listing = alice_api.get("/api/me/list/").json()
    assert listing["count"] == 2
    only = alice_api.get("/api/me/list/", {"status": "watching"}).json()
    assert [e["mal_id"] for e in only["results"]] == [6]
    changed = alice_api.patch("/api/me/list/1/", {"score": 10}, format="json")
    assert changed.status_code == 200 and changed.json()["score"] == 10
    assert changed.json()["status"] == "completed"  # untouched fields stay
    assert alice_api.delete("/api/me/list/6/").status_code == 204
    assert alice_api.get("/api/me/list/6/").status_code == 404
    assert list(ListEntry.objects.values_list("anime_id", "score")) == [(1, 10)]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"mal_id": 1, "status": "completed", "score": 11}, "score", "out of range"),
        ({"mal_id": 1, "status": "completed", "score": 0}, "score", "out of range"),
        ({"mal_id": 1, "status": "binging"}, "status", "Unknown status"),
        ({"mal_id": 424242, "status": "completed"}, "mal_id", "No anime with MAL id 424242"),
        ({"mal_id": 1, "status": "completed", "episodes_watched": -2}, "episodes_watched", ""),
        ({"mal_id": 1}, "status", "Choose a status"),
        ({"mal_id": "one", "status": "completed"}, "mal_id", ""),
    ],
)
def test_list_create_rejects_bad_input(alice_api, titles, payload, field, message):
    response = alice_api.post("/api/me/list/", payload, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors and message in " ".join(errors[field])
    assert not ListEntry.objects.exists()


def test_list_duplicate_is_409_and_keeps_the_entry(alice_api, titles):
    alice_api.post("/api/me/list/", {"mal_id": 1, "status": "completed", "score": 8}, format="json")
    again = alice_api.post(
        "/api/me/list/", {"mal_id": 1, "status": "dropped", "score": 2}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_entry"
    entry = ListEntry.objects.get()
    assert (entry.status, entry.score) == ("completed", 8)


def test_bad_update_changes_nothing(alice_api, titles):
    alice_api.post("/api/me/list/", {"mal_id": 1, "status": "completed", "score": 8}, format="json")
    bad = alice_api.patch("/api/me/list/1/", {"score": 42, "status": "dropped"}, format="json")
    assert bad.status_code == 400 and "score" in bad.json()
    entry = ListEntry.objects.get()
    assert (entry.status, entry.score) == ("completed", 8)


def test_list_filter_rejects_unknown_status(alice_api):
    response = alice_api.get("/api/me/list/", {"status": "binging"})
    assert response.status_code == 400 and "status" in response.json()


def test_second_member_can_neither_read_nor_change_first_members_data(
    alice_api, charlie_api, alice, titles
):
    alice_api.post("/api/me/list/", {"mal_id": 1, "status": "completed", "score": 9}, format="json")
    alice_tokens = alice_api.get("/api/auth/tokens/").json()
    # charlie sees only his own (empty) data...
    assert charlie_api.get("/api/me/list/").json()["count"] == 0
    assert charlie_api.get("/api/me/").json()["username"] == "charlie"
    assert charlie_api.get("/api/me/list/1/").status_code == 404
    assert charlie_api.get("/api/me/list/export.csv").content.count(b"\n") == 1  # header only
    # ...and cannot change or delete alice's entry or token through any id.
    assert charlie_api.patch("/api/me/list/1/", {"score": 1}, format="json").status_code == 404
    assert charlie_api.delete("/api/me/list/1/").status_code == 404
    assert charlie_api.delete(f"/api/auth/tokens/{alice_tokens[0]['id']}/").status_code == 404
    # Creating "the same" entry makes charlie's own row, never touches alice's.
    charlie_api.post("/api/me/list/", {"mal_id": 1, "status": "dropped", "score": 2}, format="json")
    mine = ListEntry.objects.get(user=alice)
    assert (mine.status, mine.score) == ("completed", 9)
    assert ApiToken.objects.filter(user=alice).count() == 1


def test_throttle_answers_429_with_json(alice_api, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "me": "3/min",
        },
    }
    from django.core.cache import cache

    cache.clear()
    codes = [alice_api.get("/api/me/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    throttled = alice_api.get("/api/me/")
    assert throttled.status_code == 429
    assert "throttled" in throttled.json()["detail"] and int(throttled["Retry-After"]) > 0
    cache.clear()


def test_list_export_xml_and_csv(alice_api, titles):
    alice_api.post("/api/me/list/", {"mal_id": 1, "status": "completed", "score": 9}, format="json")
    alice_api.post("/api/me/list/", {"mal_id": 30, "status": "on_hold"}, format="json")
    xml = alice_api.get("/api/me/list/export.xml")
    assert xml.status_code == 200 and xml["Content-Type"].startswith("application/xml")
    assert b"<my_status>On-Hold</my_status>" in xml.content
    csv_text = alice_api.get("/api/me/list/export.csv").content.decode()
    assert csv_text.splitlines()[0].startswith("mal_id,title,status,score")
    assert "1,Cowboy Bebop,completed,9" in csv_text
    assert alice_api.get("/api/me/list/export.pdf").status_code == 404


def test_member_endpoints_are_documented_with_the_token_scheme(tmp_path):
    import yaml
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    for path in ("/api/auth/token/", "/api/me/", "/api/me/list/", "/api/me/imports/"):
        assert path in schema["paths"], path
    assert schema["components"]["securitySchemes"]["apiToken"]["name"] == "Authorization"
    assert {"apiToken": []} in schema["paths"]["/api/me/list/"]["get"]["security"]
