from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from recommender.engines.training_data import community_interactions_arrays, interactions_frame
from recommender.models import CommunityRating

pytestmark = pytest.mark.django_db


@pytest.fixture
def mini_ratings_db(mini_data):
    call_command("import_catalog", str(mini_data), "--no-progress")
    call_command("import_ratings", str(mini_data / "ratings.csv"))
    return pd.read_csv(mini_data / "ratings.csv")


def _sorted(users, anime, scores):
    order = np.lexsort((anime, users))
    return users[order], anime[order], scores[order]


@pytest.mark.parametrize("block", [7, 1_000_000])
def test_community_arrays_hold_every_rating_in_compact_dtypes(mini_ratings_db, block):
    got = community_interactions_arrays(fetch_rows=block, id_block=block)
    assert (got.users.dtype, got.anime.dtype, got.scores.dtype) == (np.int32, np.int32, np.int8)
    assert len(got) == len(mini_ratings_db) == 38972
    users, anime, scores = _sorted(got.users, got.anime, got.scores)
    np.testing.assert_array_equal(users, mini_ratings_db["user_id"].to_numpy())
    np.testing.assert_array_equal(anime, mini_ratings_db["anime_id"].to_numpy())
    np.testing.assert_array_equal(scores, mini_ratings_db["rating"].to_numpy())


def test_community_arrays_skip_id_gaps_and_read_an_empty_table(mini_ratings_db):
    # Deleted rows leave holes in the primary keys: ranges over them must still work.
    doomed = CommunityRating.objects.order_by("id").values_list("id", flat=True)[100:5000]
    CommunityRating.objects.filter(id__in=list(doomed)).delete()
    assert len(community_interactions_arrays(id_block=1000)) == 38972 - 4900
    CommunityRating.objects.all().delete()
    empty = community_interactions_arrays()
    assert len(empty) == 0 and empty.scores.dtype == np.int8


def test_interactions_frame_is_compact(mini_ratings_db):
    frame = interactions_frame()
    assert list(frame.columns) == ["user_id", "anime_id", "rating"]
    assert list(frame.dtypes) == [np.int32, np.int32, np.int8]
    assert int((frame["rating"] == -1).sum()) == 8267
