"""bench/synth.py: format, determinism and marginals fitted to the real MAL data.

Plain data, no Django (runs with ``-p no:django`` too). One 200k-row set is generated per
session; tolerances are stated next to each check.
"""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pandas as pd
import pytest

from bench import synth
from recommender.ml import data, evaluation
from recommender.ml.baselines import EASE, Popularity
from tests.conftest import SHARED_DATA

ROWS = 200_000


@pytest.fixture(scope="session")
def real() -> pd.DataFrame:
    return pd.read_csv(SHARED_DATA / "ratings.csv.gz")


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    summary = synth.generate(ROWS, out, seed=3, data_dir=SHARED_DATA, chunk_users=300)
    return out, summary


@pytest.fixture(scope="session")
def fake(generated) -> pd.DataFrame:
    return pd.read_csv(generated[0] / "ratings.csv.gz")


def _digest(path) -> str:
    with gzip.open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _top_share(df: pd.DataFrame, n_titles: int, fraction: float) -> float:
    counts = np.sort(df.groupby("anime_id").size().to_numpy())[::-1]
    return counts[: max(1, int(n_titles * fraction))].sum() / counts.sum()


def test_parse_size_reads_suffixes():
    assert synth.parse_size("0.5M") == 500_000
    assert synth.parse_size("45M") == 45_000_000
    assert synth.parse_size("200k") == 200_000
    assert synth.parse_size("1234") == 1234
    with pytest.raises(ValueError, match="not a size"):
        synth.parse_size("lots")


def test_shape_grows_to_mal_size():
    users, titles = synth.shape_for(45_000_000)
    assert users == 300_000
    assert 16_500 <= titles <= 17_500
    assert synth.shape_for(500_000)[1] == pytest.approx(7_330, abs=100)


def test_file_has_the_shared_data_format(generated, fake):
    out, summary = generated
    with gzip.open(out / "ratings.csv.gz", "rt") as fh:
        assert fh.readline() == "user_id,anime_id,rating\n"
    assert len(fake) == ROWS == summary["rows"]
    assert fake["user_id"].min() == 1 and fake["user_id"].max() == summary["users"]
    keys = fake["user_id"].to_numpy(np.int64) * 10_000_000 + fake["anime_id"].to_numpy()
    assert np.all(np.diff(keys) > 0), "not sorted by user then anime, or duplicate pairs"
    assert set(fake["rating"].unique()) <= {-1, *range(1, 11)}
    catalog = pd.read_csv(out / "catalog.csv", dtype=str, keep_default_na=False)
    assert set(fake["anime_id"].unique()) <= set(catalog["anime_id"].astype(int))
    assert catalog["anime_id"].is_unique


def test_catalog_grows_with_synthetic_rows_beyond_the_real_one(tmp_path):
    m = synth.fit_marginals(SHARED_DATA)
    plan = synth.make_plan(45_000_000, seed=0, marginals=m)
    rows = synth.write_catalog(plan, m, tmp_path / "catalog.csv")
    catalog = pd.read_csv(tmp_path / "catalog.csv", dtype=str, keep_default_na=False)
    assert rows == len(catalog) == len(plan.anime_ids) == synth.shape_for(45_000_000)[1]
    real = pd.read_csv(SHARED_DATA / "catalog.csv", dtype=str, keep_default_na=False)
    assert catalog.iloc[: len(real)]["anime_id"].tolist() == real["anime_id"].tolist()
    extra = catalog.iloc[len(real) :]
    assert (extra["meta_source"] == "synthetic").all()
    assert (extra["anime_id"].astype(int) >= synth.SYNTH_ID_BASE).all()
    assert (extra["name"] != "").all() and (extra["genres"] != "").mean() > 0.9


def test_same_seed_same_file_other_seed_other_file(tmp_path):
    a = synth.generate(20_000, tmp_path / "a", seed=7, data_dir=SHARED_DATA, chunk_users=50)
    b = synth.generate(20_000, tmp_path / "b", seed=7, data_dir=SHARED_DATA, chunk_users=50)
    c = synth.generate(20_000, tmp_path / "c", seed=8, data_dir=SHARED_DATA, chunk_users=50)
    assert a["rows"] == b["rows"] == c["rows"] == 20_000
    digest = _digest(tmp_path / "a" / "ratings.csv.gz")
    assert digest == _digest(tmp_path / "b" / "ratings.csv.gz")
    assert digest != _digest(tmp_path / "c" / "ratings.csv.gz")


def test_title_popularity_has_the_real_heavy_tail(generated, real, fake):
    titles = generated[1]["titles"]
    real_titles = real["anime_id"].nunique()
    for fraction in (0.01, 0.1, 0.5):
        # within 3 points of the real share of rows on the top 1 % / 10 % / 50 % of titles
        assert _top_share(fake, titles, fraction) == pytest.approx(
            _top_share(real, real_titles, fraction), abs=0.03
        )


def test_list_lengths_have_the_real_heavy_tail(real, fake):
    def shape(df):
        n = df.groupby("user_id").size().to_numpy()
        return np.quantile(n, [0.25, 0.5, 0.9]) / n.mean()

    # quantiles of length / mean length within 10 %, so the tail is as heavy as MAL's
    np.testing.assert_allclose(shape(fake), shape(real), rtol=0.10)
    assert fake.groupby("user_id").size().mean() == pytest.approx(synth.MEAN_LIST, rel=0.01)


def test_unscored_share_and_score_histogram_match(real, fake):
    assert (fake["rating"] == -1).mean() == pytest.approx((real["rating"] == -1).mean(), abs=0.02)

    def hist(df):
        return df.loc[df["rating"] > 0, "rating"].value_counts(normalize=True).sort_index()

    total_variation = 0.5 * np.abs(hist(fake).to_numpy() - hist(real).to_numpy()).sum()
    assert total_variation < 0.05


def test_each_real_title_keeps_its_own_score_level(real, fake):
    def means(df, suffix=""):
        out = df[df["rating"] > 0].groupby("anime_id")["rating"].agg(["mean", "size"])
        return out.add_suffix(suffix)

    both = means(real).join(means(fake, "_fake"), how="inner")
    both = both[(both["size"] >= 50) & (both["size_fake"] >= 50)]
    assert len(both) > 300
    assert np.corrcoef(both["mean"], both["mean_fake"])[0, 1] > 0.75
    assert (both["mean"] - both["mean_fake"]).abs().mean() < 0.35


def test_taste_structure_is_learnable(fake):
    # A collaborative engine must beat popularity clearly, as it does on the real data.
    ratings = data.ratings_from_frame(fake)
    train, test = data.split_topn(ratings, seed=1)
    users = np.array(sorted(test))[:600]
    ease = evaluation.evaluate_topn(EASE(lam=200.0), train, test, ks=(20,), users=users)
    pop = evaluation.evaluate_topn(Popularity(), train, test, ks=(20,), users=users)
    assert ease["recall@20"] > 1.3 * pop["recall@20"]
