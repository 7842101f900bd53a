"""MAL-shaped synthetic ratings at any size, with marginals fitted to the shared MAL data.

Runs without Django::

    .venv/bin/python bench/synth.py --rows 5M --out /tmp/animender-scale/5M --seed 0

writes ``OUT/ratings.csv.gz`` (``user_id,anime_id,rating``, sorted by user then anime, no
duplicate pairs, rating 1-10 or -1, the shared data's format) and ``OUT/catalog.csv``
(every real catalog row, then synthetic rows for titles beyond it) and ``OUT/synth.json``
(the parameters and realised counts).

Shape of a data set of ``R`` rows (fixed rules, so sizes are comparable):

* users ``U = R / 150`` (300k at 45M; the 2016 MAL sample has 104 rows a user, the
  reference 45M set about 150), ids 1..U;
* titles ``T = 7,390 (R / 520,609) ** 0.187`` (7.3k at 0.5M, 17k at 45M); titles are the
  real rated titles by real popularity, then real unrated catalog titles, then synthetic
  ids from ``SYNTH_ID_BASE``.

Fitted marginals (from ``ratings.csv.gz`` of the shared data):

* title popularity: the real rows-per-title curve, by rank quantile, stretched to ``T``;
* list length: real users' lengths resampled (with each user's -1 share), scaled to the
  mean of 150 rows, then rounded so the file has exactly ``R`` rows;
* per-title scores: each title copies the score histogram of the real title at the same
  popularity quantile (smoothed towards the global histogram);
* unscored (-1): each user keeps the -1 share of the real user it was resampled from.

Taste structure: users and titles get ``FACTORS``-dimensional Gaussian factors. A user's
titles are drawn without replacement with probability ~ popularity x exp(beta * taste)
(Gumbel top-k), and a score is the title's own score quantile at a latent
``a * taste + b * user bias + noise``, so who watches what and who likes what share a
low-rank structure collaborative engines can find, while per-title histograms stay real.
The title weights are calibrated on a sample of users so that sampling without
replacement still yields the target popularity curve.

Memory is bounded by one chunk of users (``chunk_users x T`` float32 keys), never by ``R``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("ANIMENDER_SHARED_DATA", ROOT.parent / "shared" / "data"))

MEAN_LIST = 150.0
REAL_ROWS = 520_609
TITLE_EXPONENT = 0.187  # T(45M) = 17k from T(0.52M) = 7,390
FACTORS = 16
BETA = 1.5  # how strongly taste drives which titles a user completes
SCORE_TASTE, SCORE_USER, SCORE_NOISE = 0.8, 0.5, 0.5
SMOOTH = 10.0  # pseudo-ratings of the global histogram added to each title's
SYNTH_ID_BASE = 1_000_001
CAL_USERS = 3000
CAL_ROUNDS = 12


def parse_size(text: str) -> int:
    """'0.5M' -> 500000, '45M', '200k', '12345'."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*", text)
    if not m:
        raise ValueError(f"not a size: {text!r} (e.g. 0.5M, 200k, 12345)")
    mult = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    return int(round(float(m.group(1)) * mult))


def shape_for(rows: int) -> tuple[int, int]:
    """(users, titles) of a data set of ``rows`` rows."""
    users = max(1, int(round(rows / MEAN_LIST)))
    titles = int(round(7390 * (rows / REAL_ROWS) ** TITLE_EXPONENT))
    return users, max(titles, 50)


@dataclass(frozen=True)
class Marginals:
    """What is fitted from the real data; arrays are by real popularity rank."""

    title_ids: np.ndarray  # (n_rated,) int64 real anime ids, most rows first
    title_counts: np.ndarray  # (n_rated,) float64 rows per title
    title_hist: np.ndarray  # (n_rated, 10) float64 smoothed score histogram (1..10)
    user_lengths: np.ndarray  # (n_users,) int64
    user_unscored: np.ndarray  # (n_users,) float64 share of -1 rows
    unrated_ids: np.ndarray  # real catalog ids with no rating, most members first
    catalog: pd.DataFrame  # the real catalog, as strings


def fit_marginals(data_dir: str | Path = DEFAULT_DATA) -> Marginals:
    data_dir = Path(data_dir)
    df = pd.read_csv(data_dir / "ratings.csv.gz", dtype=np.int64)
    catalog = pd.read_csv(data_dir / "catalog.csv", dtype=str, keep_default_na=False)
    per_title = df.groupby("anime_id")
    counts = per_title.size().sort_values(ascending=False, kind="stable")
    ids = counts.index.to_numpy(np.int64)
    explicit = df[df["rating"] > 0]
    hist = (
        explicit.groupby(["anime_id", "rating"]).size().unstack(fill_value=0).reindex(ids)
    ).reindex(columns=range(1, 11), fill_value=0)
    hist = hist.fillna(0).to_numpy(np.float64)
    glob = hist.sum(axis=0) / hist.sum()
    smoothed = (hist + SMOOTH * glob) / (hist.sum(axis=1, keepdims=True) + SMOOTH)
    per_user = df.groupby("user_id")["rating"]
    lengths = per_user.size().to_numpy(np.int64)
    unscored = per_user.apply(lambda s: float((s == -1).mean())).to_numpy(np.float64)
    rated = set(ids.tolist())
    rest = catalog[~catalog["anime_id"].astype(np.int64).isin(rated)]
    members = pd.to_numeric(rest["members"], errors="coerce").fillna(0)
    unrated = rest.assign(_m=members).sort_values("_m", ascending=False, kind="stable")
    return Marginals(
        title_ids=ids,
        title_counts=counts.to_numpy(np.float64),
        title_hist=smoothed,
        user_lengths=lengths,
        user_unscored=unscored,
        unrated_ids=unrated["anime_id"].astype(np.int64).to_numpy(),
        catalog=catalog,
    )


@dataclass
class Plan:
    """Everything per user / per title, small (O(U + T)); rows come chunk by chunk."""

    rows: int
    anime_ids: np.ndarray  # (T,) anime id by popularity rank
    template: np.ndarray  # (T,) index into Marginals arrays
    log_weight: np.ndarray  # (T,) float64 calibrated sampling log-weights
    target_share: np.ndarray  # (T,) float64 target share of rows
    cdf: np.ndarray  # (T, 10) float32 score CDF per title
    item_factors: np.ndarray  # (T, FACTORS) float32
    lengths: np.ndarray  # (U,) int64, sums to rows
    unscored: np.ndarray  # (U,) float32 -1 probability per user
    # Mean and std of the taste of selected titles: they standardise the score latent, so
    # its quantiles land on each title's own histogram.
    taste_shift: float
    taste_spread: float
    seed: int


def _anime_ids(m: Marginals, titles: int) -> np.ndarray:
    real = np.concatenate([m.title_ids, m.unrated_ids])[:titles]
    extra = np.arange(SYNTH_ID_BASE, SYNTH_ID_BASE + max(0, titles - len(real)), dtype=np.int64)
    return np.concatenate([real, extra])


def _user_factors(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    factors = rng.standard_normal((n, FACTORS), dtype=np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    return factors, bias


def _select(
    rng: np.random.Generator,
    taste: np.ndarray,
    log_weight: np.ndarray,
    lengths: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Gumbel top-k: per row, ``lengths[r]`` distinct titles ~ weight x exp(beta taste).

    Returns (row of each pick, title rank of each pick), both int64, grouped by row.
    """
    keys = taste * np.float32(BETA)
    keys += log_weight.astype(np.float32)
    # -log(Exp(1)) is a standard Gumbel; one log per key.
    keys -= np.log(np.maximum(rng.standard_exponential(keys.shape, dtype=np.float32), 1e-30))
    n_titles = keys.shape[1]
    picks = np.empty(int(lengths.sum()), dtype=np.int64)
    pos = 0
    for r, k in enumerate(lengths):
        k = int(k)
        if k >= n_titles:
            picks[pos : pos + k] = np.arange(n_titles)
        else:
            picks[pos : pos + k] = np.argpartition(keys[r], n_titles - k)[n_titles - k :]
        pos += k
    return np.repeat(np.arange(len(lengths)), lengths), picks


def make_plan(rows: int, seed: int = 0, marginals: Marginals | None = None) -> Plan:
    m = marginals or fit_marginals()
    users, titles = shape_for(rows)
    rng = np.random.default_rng([seed, 0])

    # Popularity: the real log-count curve at the same rank quantile.
    q_real = (np.arange(len(m.title_counts)) + 0.5) / len(m.title_counts)
    q = (np.arange(titles) + 0.5) / titles
    log_count = np.interp(q, q_real, np.log(m.title_counts))
    target = np.exp(log_count)
    target /= target.sum()
    # Scores: a real rated title keeps its own histogram; any other title copies the real
    # title at its popularity quantile.
    n_real = len(m.title_counts)
    template = np.minimum((q * n_real).astype(np.int64), n_real - 1)
    own = np.arange(min(titles, n_real))
    template[own] = own

    # List lengths: resampled real users, scaled to MEAN_LIST, rounded to exactly `rows`.
    pick = rng.integers(0, len(m.user_lengths), size=users)
    raw = m.user_lengths[pick] * (rows / users / m.user_lengths.mean())
    raw = np.minimum(raw * rng.lognormal(0.0, 0.1, size=users), 0.6 * titles)
    lengths = np.maximum(1, np.floor(raw * rows / raw.sum())).astype(np.int64)
    cap = int(0.6 * titles)
    while (diff := rows - int(lengths.sum())) != 0:
        who = rng.integers(0, users, size=abs(diff))
        np.add.at(lengths, who, 1 if diff > 0 else -1)
        lengths = np.clip(lengths, 1, cap)
    unscored = m.user_unscored[pick].astype(np.float32)

    cdf = np.cumsum(m.title_hist[template], axis=1).astype(np.float32)
    cdf[:, -1] = 1.0
    item_factors = rng.standard_normal((titles, FACTORS), dtype=np.float32)

    # Calibrate: sampling without replacement flattens the head, so adjust the weights
    # until a sample of users realises the target curve.
    log_weight = np.log(target)
    n_cal = min(users, CAL_USERS)
    cal_lengths = lengths[:n_cal]
    cal_rng = np.random.default_rng([seed, 1])
    shift, spread = 0.0, 1.0
    for _ in range(CAL_ROUNDS):
        f, _bias = _user_factors(cal_rng, n_cal)
        taste = (f @ item_factors.T) / np.float32(math.sqrt(FACTORS))
        rows_idx, picks = _select(cal_rng, taste, log_weight, cal_lengths)
        got = np.bincount(picks, minlength=titles).astype(np.float64)
        want = target * cal_lengths.sum()
        log_weight += 0.8 * np.log((want + 0.5) / (got + 0.5))
        picked = taste[rows_idx, picks]
        shift, spread = float(picked.mean()), float(picked.std())
    return Plan(
        rows=rows,
        anime_ids=_anime_ids(m, titles),
        template=template,
        log_weight=log_weight,
        target_share=target,
        cdf=cdf,
        item_factors=item_factors,
        lengths=lengths,
        unscored=unscored,
        taste_shift=shift,
        taste_spread=spread,
        seed=seed,
    )


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(z).astype(np.float32)


def generate_chunk(plan: Plan, start: int, stop: int) -> pd.DataFrame:
    """Rows of users ``start..stop-1`` (0-based), sorted by user then anime id.

    Deterministic per (seed, start), whatever else is generated.
    """
    rng = np.random.default_rng([plan.seed, 2, start])
    n = stop - start
    f, bias = _user_factors(rng, n)
    taste = (f @ plan.item_factors.T) / np.float32(math.sqrt(FACTORS))
    lengths = plan.lengths[start:stop]
    rows_idx, picks = _select(rng, taste, plan.log_weight, lengths)
    t = (taste[rows_idx, picks] - np.float32(plan.taste_shift)) / np.float32(plan.taste_spread)
    scale = math.sqrt(SCORE_TASTE**2 + SCORE_USER**2 + SCORE_NOISE**2)
    z = SCORE_TASTE * t + SCORE_USER * bias[rows_idx]
    z += SCORE_NOISE * rng.standard_normal(len(z), dtype=np.float32)
    u = _norm_cdf(z / np.float32(scale))
    cdf = plan.cdf[picks]
    score = (u[:, None] > cdf).sum(axis=1).astype(np.int8) + 1
    np.minimum(score, 10, out=score)
    unscored = rng.random(len(z), dtype=np.float32) < plan.unscored[start:stop][rows_idx]
    score[unscored] = -1
    user_id = (rows_idx + start + 1).astype(np.int32)
    anime_id = plan.anime_ids[picks].astype(np.int32)
    order = np.lexsort((anime_id, user_id))
    return pd.DataFrame(
        {"user_id": user_id[order], "anime_id": anime_id[order], "rating": score[order]}
    )


def write_catalog(plan: Plan, m: Marginals, path: Path) -> int:
    """The real catalog, then one synthetic row per title beyond it; returns rows written."""
    real_ids = set(m.catalog["anime_id"].astype(np.int64).tolist())
    extra = [(r, int(a)) for r, a in enumerate(plan.anime_ids) if int(a) not in real_ids]
    by_id = m.catalog.set_index(m.catalog["anime_id"].astype(np.int64))
    rows = []
    for rank, anime_id in extra:
        tmpl = by_id.loc[int(m.title_ids[plan.template[rank]])]
        mean = float((np.diff(plan.cdf[rank], prepend=0) * np.arange(1, 11)).sum())
        rows.append(
            {
                **{c: "" for c in m.catalog.columns},
                "anime_id": str(anime_id),
                "name": f"Synthetic title {anime_id}",
                "type": tmpl["type"] or "TV",
                "episodes": tmpl["episodes"],
                "genres": tmpl["genres"],
                "themes": tmpl["themes"],
                "demographics": tmpl["demographics"],
                "score": f"{mean:.2f}",
                "members": str(int(plan.target_share[rank] * plan.rows)),
                "meta_source": "synthetic",
            }
        )
    out = pd.concat([m.catalog, pd.DataFrame(rows, columns=m.catalog.columns)])
    out.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
    return len(out)


def generate(
    rows: int,
    out_dir: str | Path,
    *,
    seed: int = 0,
    data_dir: str | Path = DEFAULT_DATA,
    chunk_users: int = 2000,
    compresslevel: int = 6,
    progress: bool = False,
) -> dict:
    """Write ``ratings.csv.gz``, ``catalog.csv`` and ``synth.json`` under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    m = fit_marginals(data_dir)
    plan = make_plan(rows, seed, m)
    users = len(plan.lengths)
    written = unscored = 0
    with gzip.open(out / "ratings.csv.gz", "wt", compresslevel=compresslevel, newline="") as fh:
        fh.write("user_id,anime_id,rating\n")
        for start in range(0, users, chunk_users):
            chunk = generate_chunk(plan, start, min(start + chunk_users, users))
            chunk.to_csv(fh, header=False, index=False)
            written += len(chunk)
            unscored += int((chunk["rating"].to_numpy() == -1).sum())
            if progress:
                print(f"\r{written:,}/{rows:,} rows", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    catalog_rows = write_catalog(plan, m, out / "catalog.csv")
    summary = {
        "rows": written,
        "users": users,
        "titles": len(plan.anime_ids),
        "catalog_rows": catalog_rows,
        "unscored_share": unscored / max(written, 1),
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 2),
        "params": {
            "mean_list": MEAN_LIST,
            "title_exponent": TITLE_EXPONENT,
            "factors": FACTORS,
            "beta": BETA,
            "score_weights": [SCORE_TASTE, SCORE_USER, SCORE_NOISE],
        },
    }
    (out / "synth.json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", required=True, help="e.g. 0.5M, 5M, 15M, 45M")
    parser.add_argument("--out", required=True, help="folder for ratings.csv.gz + catalog.csv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the shared MAL data")
    parser.add_argument("--chunk-users", type=int, default=2000)
    parser.add_argument("--compresslevel", type=int, default=6)
    args = parser.parse_args()
    summary = generate(
        parse_size(args.rows),
        args.out,
        seed=args.seed,
        data_dir=args.data,
        chunk_users=args.chunk_users,
        compresslevel=args.compresslevel,
        progress=True,
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
