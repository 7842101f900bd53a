"""POST /api/recommendations/ input: the fast entries field keeps DRF's rules and errors."""

from __future__ import annotations

import pytest

from recommender.engines.api import MAX_ENTRIES

pytestmark = pytest.mark.django_db


def post(client, body):
    return client.post("/api/recommendations/", body, content_type="application/json")


@pytest.mark.parametrize(
    ("entries", "errors"),
    [
        ([], ["Give at least one watched title."]),
        ("1,2,3", ["Expected a list of {mal_id, score} objects."]),
        ([{"mal_id": 0}], {"0": {"mal_id": ["Ensure this value is greater than or equal to 1."]}}),
        ([{"mal_id": "x"}], {"0": {"mal_id": ["A valid integer is required."]}}),
        ([{"mal_id": True}], {"0": {"mal_id": ["A valid integer is required."]}}),
        ([{"score": 5}], {"0": {"mal_id": ["This field is required."]}}),
        (
            [{"mal_id": 1, "score": 9}, {"mal_id": 2, "score": 11}],
            {"1": {"score": ["Ensure this value is between 1 and 10 (null: watched, no score)."]}},
        ),
        (
            [{"mal_id": 1, "score": 0}],
            {"0": {"score": ["Ensure this value is between 1 and 10 (null: watched, no score)."]}},
        ),
        ([7], {"0": {"non_field_errors": ["Expected an object."]}}),
    ],
)
def test_bad_entries_get_a_400_naming_the_entry(client, entries, errors):
    response = post(client, {"entries": entries})
    assert response.status_code == 400
    assert response.json() == {"entries": errors}


def test_too_many_entries_are_refused(client):
    entries = [{"mal_id": i + 1} for i in range(MAX_ENTRIES + 1)]
    response = post(client, {"entries": entries})
    assert response.status_code == 400 and "entries" in response.json()


def test_valid_entries_reach_the_engine(client, settings, tmp_path):
    # No trained model: validation passed and the engine said so (503, JSON).
    settings.MODEL_DIR = tmp_path
    response = post(client, {"entries": [{"mal_id": "5", "score": None}, {"mal_id": 1.0}]})
    assert response.status_code == 503 and "not been trained" in response.json()["detail"]


def test_entries_are_documented_as_watched_entry_objects(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    request = schema["components"]["schemas"]["RecommendationRequest"]["properties"]["entries"]
    assert request["items"]["$ref"].endswith("/WatchedEntry")
