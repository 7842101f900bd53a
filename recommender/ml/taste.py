"""Per-user taste model: catalog features and a LightGBM + LogisticRegression classifier.

Plain Python (no Django). The platform builds :class:`CatalogFeatures` once per catalog
version, trains one :class:`TasteModel` per user on the rows of the titles they labeled
(1 = "would like", 0 = "wouldn't"), and stores P(like) for the whole catalog.

Features (one CSR float32 matrix aligned to the catalog rows):

* TF-IDF over the synopsis (``word:``), and one token per genre, theme, demographic,
  studio, type and source (``genre:``, ``theme:``, ...), each block L2-normalised.
* Numeric columns (mean score, log members, log episodes, year, log popularity rank),
  median-imputed and scaled with MaxAbsScaler (``num:``).
* With ``interactions`` (community ratings): item priors (shrunk mean score, like and
  dislike rates, log raters; ``prior:``), item factors from a truncated SVD of the
  centred, shrunk user x item score matrix (``latent:``), and each title's nearest titles
  by the same residuals (``near:<MAL id>``, 50 per title). The factors hold the broad
  tastes; the neighbours hold what 32 factors blur ("people who rate A above its mean rate
  B above its mean too"), so a like on A lifts B directly. Fit them on ratings that
  exclude the users being evaluated, or they leak.

The classifier averages LightGBM's and LogisticRegression's P(like) with weights 3:7, as in
the reference design. Both save without pickle: LightGBM's text model and an ``.npz`` of
the linear weights.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import MaxAbsScaler, normalize
from threadpoolctl import threadpool_limits

from .preferences import COMMUNITY_RATE_RULE, UNSCORED

FORMAT_VERSION = 1

CATALOG_COLUMNS = [
    "anime_id",
    "name",
    "type",
    "episodes",
    "genres",
    "themes",
    "demographics",
    "score",
    "members",
    "popularity",
    "premiered",
    "studios",
    "source",
    "synopsis",
    "age_rating",
]

# Token columns: (catalog column, feature prefix). Comma-separated lists become one token
# per item; single-valued columns are one token.
_TOKEN_COLUMNS = [
    ("genres", "genre"),
    ("themes", "theme"),
    ("demographics", "demographic"),
    ("studios", "studio"),
    ("type", "type"),
    ("source", "source"),
]
# Left out of explain(): latent factors have no readable meaning, and the prior is the
# offset every title starts from, not a taste.
_OPAQUE_PREFIXES = ("latent:", "near:", "prior:logit")
# Bump when the columns change: the platform keys its cached features by it.
FEATURES_LAYOUT = "2-near"

PRIOR_FEATURE = "prior:logit"
_N_PRIORS = 4  # the prior:* columns at the start of the community block
_PRIOR_SAMPLE = 200_000
# Neighbour block: titles per title, co-rater shrinkage, and the users it learns from (a
# seeded sample past this: the similarity pass costs sum(list length^2) over users).
_NEIGHBOURS = 50
_NEIGHBOUR_SHRINK = 50.0
_NEIGHBOUR_USERS = 20_000
# The block's scale, i.e. its prior variance in the linear model next to the other
# blocks (each about unit norm): on 3 x 40 bench users AP rose from weight 1 to 3 and
# stayed level to 8.
_NEIGHBOUR_WEIGHT = 3.0
# The community's like / dislike split (one definition: recommender.ml.preferences).
LIKE_MIN_SCORE = COMMUNITY_RATE_RULE.like_min
DISLIKE_MAX_SCORE = COMMUNITY_RATE_RULE.dislike_max


@dataclass
class CatalogFeatures:
    """Feature matrix for a catalog.

    ``mal_ids`` (n_titles,) int64 gives the row order; ``matrix`` is (n_titles,
    n_features) CSR float32; ``feature_names`` names its columns; ``density``
    (n_titles,) float32 in [0, 1] says how typical a title is among its neighbours
    (used to weight uncertainty sampling; None when not computed).
    """

    mal_ids: np.ndarray
    matrix: sp.csr_matrix
    feature_names: list[str]
    density: np.ndarray | None = None
    _index: dict[int, int] = field(default=None, init=False, repr=False, compare=False)

    def rows_for(self, mal_ids) -> np.ndarray:
        """Row index per MAL id (int64), -1 for ids not in the catalog."""
        if self._index is None:
            self._index = {int(m): i for i, m in enumerate(self.mal_ids)}
        get = self._index.get
        return np.fromiter((get(int(m), -1) for m in np.asarray(mal_ids).ravel()), dtype=np.int64)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        sp.save_npz(directory / "matrix.npz", self.matrix.tocsr(), compressed=True)
        arrays = {"mal_ids": np.asarray(self.mal_ids, dtype=np.int64)}
        if self.density is not None:
            arrays["density"] = np.asarray(self.density, dtype=np.float32)
        np.savez(directory / "rows.npz", **arrays)
        meta = {"format": FORMAT_VERSION, "feature_names": list(self.feature_names)}
        (directory / "features.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: Path) -> CatalogFeatures:
        directory = Path(directory)
        meta = _read_meta(directory / "features.json", "catalog features")
        matrix = sp.load_npz(directory / "matrix.npz").tocsr().astype(np.float32)
        with np.load(directory / "rows.npz", allow_pickle=False) as rows:
            mal_ids = rows["mal_ids"]
            density = rows["density"] if "density" in rows.files else None
        return cls(mal_ids, matrix, meta["feature_names"], density)


def _read_meta(path: Path, what: str) -> dict:
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{what} format {meta.get('format')} is not supported")
    return meta


def _column(catalog: pd.DataFrame, name: str) -> pd.Series:
    if name in catalog.columns:
        return catalog[name]
    return pd.Series([None] * len(catalog), index=catalog.index, dtype=object)


def _text(series: pd.Series) -> list[str]:
    return series.fillna("").astype(str).tolist()


def _split_tokens(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def _token_block(catalog: pd.DataFrame) -> tuple[sp.csr_matrix, list[str]]:
    blocks, names = [], []
    for column, prefix in _TOKEN_COLUMNS:
        docs = _text(_column(catalog, column))
        if not any(docs):
            continue
        # Sources disagree on case ("Slice of Life" / "Slice Of Life"): one token per
        # case-folded name, shown in its most frequent spelling.
        spellings = pd.Series([t for d in docs for t in _split_tokens(d)], dtype=object)
        canonical = {}
        for spelling in spellings.value_counts().index:
            canonical.setdefault(spelling.casefold(), spelling)
        vec = TfidfVectorizer(
            tokenizer=lambda d, c=canonical: [c[t.casefold()] for t in _split_tokens(d)],
            token_pattern=None,
            lowercase=False,
            dtype=np.float32,
        )
        blocks.append(vec.fit_transform(docs))
        names += [f"{prefix}:{t}" for t in vec.get_feature_names_out()]
    if not blocks:
        return sp.csr_matrix((len(catalog), 0), dtype=np.float32), []
    return sp.hstack(blocks, format="csr"), names


def _synopsis_block(catalog: pd.DataFrame, max_features: int) -> tuple[sp.csr_matrix, list[str]]:
    docs = _text(_column(catalog, "synopsis"))
    # MAL synopses end with a source credit ("[Written by MAL Rewrite]"): not content.
    docs = [re.sub(r"[\[(](written by|source:)[^\])]*[\])]", " ", d, flags=re.I) for d in docs]
    vec = TfidfVectorizer(
        max_features=max_features,
        min_df=3,
        max_df=0.5,
        stop_words="english",
        sublinear_tf=True,
        dtype=np.float32,
    )
    if not any(docs):
        return sp.csr_matrix((len(docs), 0), dtype=np.float32), []
    matrix = vec.fit_transform(docs)
    return matrix, [f"word:{t}" for t in vec.get_feature_names_out()]


def _year(premiered: pd.Series) -> pd.Series:
    return pd.to_numeric(
        premiered.fillna("").astype(str).str.extract(r"(\d{4})")[0], errors="coerce"
    )


def _numeric_block(catalog: pd.DataFrame) -> tuple[sp.csr_matrix, list[str]]:
    num = lambda c: pd.to_numeric(_column(catalog, c), errors="coerce")  # noqa: E731
    popularity = num("popularity")
    columns = {
        "num:mean score": num("score"),
        "num:log members": np.log1p(num("members")),
        "num:log episodes": np.log1p(num("episodes")),
        "num:year": _year(_column(catalog, "premiered")),
        # Rank 1 is the most popular: invert so larger means more popular; unknown
        # popularity means unranked, i.e. as unpopular as the least popular known one.
        "num:popularity": -np.log1p(
            popularity.fillna(popularity.max() if popularity.notna().any() else 0)
        ),
    }
    frame = pd.DataFrame(columns)
    frame = frame.fillna(frame.median()).fillna(0.0)
    # MaxAbsScaler keeps sparsity but not centring: shift each column to start at 0 so
    # "more" always means a larger value.
    frame = frame - frame.min()
    values = MaxAbsScaler().fit_transform(frame.to_numpy(dtype=np.float64))
    return sp.csr_matrix(values.astype(np.float32)), list(columns)


def _community_block(
    mal_ids: np.ndarray, interactions: pd.DataFrame, *, n_factors: int, random_state: int
) -> tuple[sp.csr_matrix, list[str]]:
    """Item priors and latent factors learned from community ratings."""
    scored = interactions[interactions["rating"] != UNSCORED]
    row_of = pd.Series(np.arange(len(mal_ids)), index=mal_ids)
    scored = scored[scored["anime_id"].isin(row_of.index)]
    items = row_of.loc[scored["anime_id"]].to_numpy()
    users, user_index = np.unique(scored["user_id"].to_numpy(), return_inverse=True)
    r = scored["rating"].to_numpy(dtype=np.float64)
    n_items = len(mal_ids)

    mu = r.mean() if len(r) else 7.5
    count = np.bincount(items, minlength=n_items).astype(np.float64)
    # Shrink toward the global mean: a title with 3 ratings says little.
    shrink = 10.0
    mean = (np.bincount(items, weights=r, minlength=n_items) + shrink * mu) / (count + shrink)
    like = np.bincount(items, weights=(r >= LIKE_MIN_SCORE), minlength=n_items)
    dislike = np.bincount(items, weights=(r <= DISLIKE_MAX_SCORE), minlength=n_items)
    like_rate = (like + shrink * np.mean(r >= LIKE_MIN_SCORE)) / (count + shrink)
    dislike_rate = (dislike + shrink * np.mean(r <= DISLIKE_MAX_SCORE)) / (count + shrink)
    priors = np.column_stack(
        [
            (mean - 1.0) / 9.0,
            like_rate,
            dislike_rate,
            np.log1p(count) / max(np.log1p(count).max(), 1.0),
        ]
    )
    names = ["prior:community score", "prior:like rate", "prior:dislike rate", "prior:log raters"]

    blocks = [sp.csr_matrix(priors.astype(np.float32))]
    # User-centred residuals against the item mean: the factors then describe how taste
    # departs from consensus, which is what separates one user's likes from dislikes.
    user_count = np.bincount(user_index, minlength=len(users)).astype(np.float64)
    resid = r - mean[items]
    user_bias = np.bincount(user_index, weights=resid, minlength=len(users)) / (user_count + 5.0)
    resid = resid - user_bias[user_index]
    k = min(n_factors, max(0, min(len(users), n_items) - 1))
    if k >= 2:
        from sklearn.decomposition import TruncatedSVD

        m = sp.csr_matrix((resid, (items, user_index)), shape=(n_items, len(users)))
        svd = TruncatedSVD(n_components=k, algorithm="randomized", random_state=random_state)
        factors = svd.fit_transform(m)
        # Titles with few raters get factors near 0 (little evidence), not noise.
        factors *= (count / (count + shrink))[:, None]
        scale = np.abs(factors).max(axis=0)
        factors /= np.where(scale > 0, scale, 1.0)
        blocks.append(sp.csr_matrix(factors.astype(np.float32)))
        names += [f"latent:{j}" for j in range(k)]
    if n_items > 1:
        near = _neighbour_block(
            resid, items, user_index, n_items, len(users), random_state=random_state
        )
        blocks.append(near)
        names += [f"near:{int(m)}" for m in mal_ids]
    return sp.hstack(blocks, format="csr"), names


def _neighbour_block(
    resid: np.ndarray,
    items: np.ndarray,
    user_index: np.ndarray,
    n_items: int,
    n_users: int,
    *,
    random_state: int,
    k: int = _NEIGHBOURS,
    shrink: float = _NEIGHBOUR_SHRINK,
    max_users: int = _NEIGHBOUR_USERS,
    block: int = 512,
) -> sp.csr_matrix:
    """(n_items, n_items) CSR: each row's ``k`` most similar titles (positive only).

    Similarity: cosine of the user-centred residuals, times ``co / (co + shrink)`` where
    ``co`` counts the users who rated both (two titles that share three raters prove
    little). Rows are L2-normalised, then scaled by ``_NEIGHBOUR_WEIGHT``; a title is not
    its own neighbour. Computed ``block`` rows at a time so memory stays at a few dense
    ``block x n_items`` arrays.
    """
    if n_users > max_users:
        keep = np.zeros(n_users, dtype=bool)
        keep[np.random.default_rng(random_state).choice(n_users, max_users, replace=False)] = True
        mask = keep[user_index]
        resid, items = resid[mask], items[mask]
        user_index = (np.cumsum(keep) - 1)[user_index[mask]]
        n_users = max_users
    R = sp.csr_matrix((resid, (items, user_index)), shape=(n_items, n_users))
    B = sp.csr_matrix((np.ones(len(resid)), (items, user_index)), shape=(n_items, n_users))
    R_t, B_t = R.T.tocsr(), B.T.tocsr()
    norms = np.sqrt(np.asarray(R.multiply(R).sum(axis=1)).ravel())
    k = min(k, n_items - 1)
    rows, cols, vals = [], [], []
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        sim = (R[start:stop] @ R_t).toarray()
        co = (B[start:stop] @ B_t).toarray()
        sim /= np.maximum(np.outer(norms[start:stop], norms), 1e-12)
        sim *= co / (co + shrink)
        sim[np.arange(stop - start), np.arange(start, stop)] = 0.0
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        top_vals = np.take_along_axis(sim, top, axis=1)
        rows.append(np.repeat(np.arange(start, stop), k))
        cols.append(top.ravel())
        vals.append(np.maximum(top_vals, 0.0).ravel())
    near = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
    )
    near.eliminate_zeros()
    return (normalize(near) * _NEIGHBOUR_WEIGHT).astype(np.float32).tocsr()


def _density(matrix: sp.csr_matrix, *, k: int = 20, random_state: int = 0) -> np.ndarray:
    """Mean cosine similarity to each title's ``k`` nearest titles, scaled to [0, 1]."""
    from sklearn.decomposition import TruncatedSVD

    n = matrix.shape[0]
    dims = min(64, max(1, min(matrix.shape) - 1))
    emb = TruncatedSVD(n_components=dims, random_state=random_state).fit_transform(matrix)
    emb = normalize(emb).astype(np.float32)
    out = np.empty(n, dtype=np.float32)
    step = 2048
    for start in range(0, n, step):
        sims = emb[start : start + step] @ emb.T
        kk = min(k + 1, n)
        top = np.partition(sims, n - kk, axis=1)[:, n - kk :]
        out[start : start + step] = (top.sum(axis=1) - 1.0) / max(kk - 1, 1)
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / (hi - lo) if hi > lo else np.ones(n, dtype=np.float32)


def _catalog_prior_logit(catalog: pd.DataFrame) -> np.ndarray:
    """Log-odds of a like from the MAL mean score alone (no community data).

    A rough calibration of the shared data (like rate ~0.77 at score ~7.5, ~+0.8 logit
    per point); the per-user model refits intercept and slope on top of it.
    """
    score = pd.to_numeric(_column(catalog, "score"), errors="coerce")
    score = score.fillna(score.median() if score.notna().any() else 7.5).to_numpy(np.float64)
    return np.clip(1.2 + 0.8 * (score - 7.5), -6.0, 6.0)


def _community_prior_logit(
    mal_ids: np.ndarray, dense: np.ndarray, interactions: pd.DataFrame, *, random_state: int
) -> np.ndarray:
    """Log-odds that a community member likes each title (>= 8 vs <= 6; 7 is neither).

    A small logistic regression over the numeric and prior columns, fitted on (a sample
    of) the community's explicit ratings, so a title everybody rates low starts low for a
    new user too.
    """
    rated = interactions[
        (interactions["rating"] != UNSCORED)
        & (interactions["rating"] != LIKE_MIN_SCORE - 1)
        & interactions["anime_id"].isin(mal_ids)
    ]
    if rated["rating"].ge(LIKE_MIN_SCORE).nunique() < 2:
        return np.zeros(len(mal_ids))
    if len(rated) > _PRIOR_SAMPLE:
        rated = rated.sample(_PRIOR_SAMPLE, random_state=random_state)
    rows = pd.Series(np.arange(len(mal_ids)), index=mal_ids).loc[rated["anime_id"]].to_numpy()
    y = (rated["rating"].to_numpy() >= LIKE_MIN_SCORE).astype(np.int64)
    lr = LogisticRegression(C=10.0, max_iter=1000).fit(dense[rows], y)
    return np.clip(lr.decision_function(dense), -6.0, 6.0)


def build_catalog_features(
    catalog: pd.DataFrame,
    *,
    interactions: pd.DataFrame | None = None,
    random_state: int = 0,
    max_words: int = 5000,
    n_factors: int = 32,
    with_density: bool = True,
) -> CatalogFeatures:
    """Features for every catalog row (see the module docstring).

    ``catalog`` has (a subset of) :data:`CATALOG_COLUMNS`, ``anime_id`` required;
    ``interactions`` is an optional ``user_id, anime_id, rating`` frame (rating -1 =
    completed unscored) of community ratings.
    """
    if "anime_id" not in catalog.columns:
        raise ValueError("catalog needs an anime_id column")
    catalog = catalog.reset_index(drop=True)
    mal_ids = catalog["anime_id"].to_numpy(dtype=np.int64)
    if len(np.unique(mal_ids)) != len(mal_ids):
        raise ValueError("catalog anime_id values must be unique")
    tokens, token_names = _token_block(catalog)
    words, word_names = _synopsis_block(catalog, max_words)
    numeric, numeric_names = _numeric_block(catalog)
    blocks, names = [], []
    for block, block_names in ((tokens, token_names), (words, word_names)):
        if block.shape[1]:
            blocks.append(normalize(block))
            names += block_names
    blocks.append(numeric)
    names += numeric_names
    if interactions is not None and len(interactions):
        community, community_names = _community_block(
            mal_ids, interactions, n_factors=n_factors, random_state=random_state
        )
        blocks.append(community)
        names += community_names
        dense = sp.hstack([numeric, community[:, :_N_PRIORS]]).toarray()
        prior = _community_prior_logit(mal_ids, dense, interactions, random_state=random_state)
    else:
        prior = _catalog_prior_logit(catalog)
    # Column 0 is the prior log-odds of a like: TasteModel uses it as its offset.
    blocks.insert(0, sp.csr_matrix(prior.astype(np.float32)[:, None]))
    names.insert(0, PRIOR_FEATURE)
    matrix = sp.hstack(blocks, format="csr").astype(np.float32)
    matrix.sort_indices()
    density = _density(matrix, random_state=random_state) if with_density else None
    return CatalogFeatures(mal_ids, matrix, names, density)


class NotEnoughLabels(ValueError):
    """The labels cannot train a model yet; the message says what is missing."""


MIN_LABELS = 4

_DEFAULTS = {
    "lgb_weight": 0.3,  # LightGBM : LogisticRegression = 3 : 7
    "n_estimators": 60,
    "learning_rate": 0.08,
    "num_leaves": 7,
    "min_child_samples": 10,
    "colsample_bytree": 0.5,
    "C": 1.0,
    "class_weight": None,
    # Column holding the prior log-odds (build_catalog_features puts it at 0); both
    # learners start from it and learn the user's departure. None: no offset.
    "offset_column": 0,
}


def _check_labels(y: np.ndarray) -> None:
    n_pos = int((y == 1).sum())
    n_neg = int((y == 0).sum())
    if n_pos + n_neg != len(y):
        raise ValueError("labels must be 0 (dislike) or 1 (like)")
    if n_pos == 0 or n_neg == 0:
        raise NotEnoughLabels(
            f"need at least one like and one dislike (have {n_pos} likes, {n_neg} dislikes)"
        )
    if len(y) < MIN_LABELS:
        raise NotEnoughLabels(f"need at least {MIN_LABELS} labels (have {len(y)})")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))


def _fit_logistic(
    X: sp.csr_matrix, y: np.ndarray, offset: np.ndarray, weights: np.ndarray, C: float
) -> tuple[np.ndarray, float]:
    """L2-penalised logistic regression with a fixed per-row offset.

    Minimises ``C * sum_i w_i * log(1 + exp(-s_i (x_i.coef + b + offset_i))) + |coef|^2 / 2``
    (scikit-learn's LogisticRegression objective, intercept unpenalised; scikit-learn has
    no offset argument, hence this). With far fewer labels than features the optimum lies
    in the span of the rows (representer theorem), so it is solved there: with
    ``X X^T = U diag(lam) U^T`` and ``coef = X^T U diag(lam^-1/2) beta`` the problem becomes
    a dense (n_labels x rank) logistic regression on ``Z = U diag(lam^1/2)`` with penalty
    ``|beta|^2 / 2``, which Newton's method solves in a few milliseconds.
    """
    K = (X @ X.T).toarray()
    # Small dense algebra: one BLAS thread is fastest (a thread pool on a busy machine
    # made a 200 x 200 solve take 0.3 s).
    with threadpool_limits(limits=1):
        return _fit_logistic_dense(X, K, y, offset, weights, C)


def _fit_logistic_dense(
    X: sp.csr_matrix,
    K: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    weights: np.ndarray,
    C: float,
) -> tuple[np.ndarray, float]:
    lam, U = np.linalg.eigh(K)
    keep = lam > max(lam.max(), 1e-12) * 1e-9
    lam, U = lam[keep], U[:, keep]
    Z = np.column_stack([U * np.sqrt(lam), np.ones(len(y))])
    ridge = np.ones(Z.shape[1])
    ridge[-1] = 1e-8  # the intercept is (almost) unpenalised
    sign = np.where(y == 1, 1.0, -1.0)

    def loss(theta: np.ndarray) -> float:
        margin = sign * (Z @ theta + offset)
        return C * float(weights @ np.logaddexp(0.0, -margin)) + 0.5 * float(
            (ridge * theta) @ theta
        )

    theta = np.zeros(Z.shape[1])
    current = loss(theta)
    for _ in range(50):
        p = _sigmoid(Z @ theta + offset)
        grad = C * Z.T @ (weights * (p - y)) + ridge * theta
        hess = C * (Z.T * (weights * p * (1.0 - p))) @ Z + np.diag(ridge)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-6:
            candidate = theta - t * step
            new = loss(candidate)
            if new <= current:
                break
            t *= 0.5
        theta, previous, current = candidate, current, new
        if previous - current < 1e-10 * max(1.0, abs(current)):
            break
    coef = X.T @ (U @ (theta[:-1] / np.sqrt(lam)))
    return np.asarray(coef, dtype=np.float64).ravel(), float(theta[-1])


class TasteModel:
    """P(like) for one user: LightGBM and LogisticRegression averaged 3:7.

    ``fit(X, y)``: X (n_labels, n_features) CSR rows of :class:`CatalogFeatures`, y 0/1.
    Both learners start from the prior log-odds in column ``offset_column`` (the
    community's opinion of the title) and learn how this user departs from it, so a few
    labels refine a sensible ranking instead of replacing it with noise.
    """

    def __init__(self, *, random_state: int = 0, **params) -> None:
        unknown = set(params) - set(_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown TasteModel parameters: {sorted(unknown)}")
        self.random_state = random_state
        self.params = {**_DEFAULTS, **params}
        self.booster_: lgb.Booster | None = None
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.n_features_: int = 0

    def _offset(self, X: sp.csr_matrix) -> np.ndarray:
        col = self.params["offset_column"]
        if col is None:
            return np.zeros(X.shape[0])
        return X[:, col].toarray().ravel().astype(np.float64)

    def fit(self, X: sp.csr_matrix, y: np.ndarray) -> TasteModel:
        y = np.asarray(y).astype(np.int64).ravel()
        _check_labels(y)
        X = sp.csr_matrix(X, dtype=np.float64)
        if X.shape[0] != len(y):
            raise ValueError(f"X has {X.shape[0]} rows but y has {len(y)} labels")
        p = self.params
        self.n_features_ = X.shape[1]
        offset = self._offset(X)
        weights = np.ones(len(y))
        if p["class_weight"] == "balanced":
            counts = np.bincount(y, minlength=2)
            weights = len(y) / (2.0 * counts[y])
        self.coef_, self.intercept_ = _fit_logistic(X, y, offset, weights, p["C"])
        self.booster_ = None
        if p["lgb_weight"] > 0:
            train = lgb.Dataset(
                X.astype(np.float32),
                label=y,
                weight=weights,
                init_score=offset,
                params={"verbose": -1, "min_data_in_bin": 1, "max_bin": 63},
                free_raw_data=True,
            )
            self.booster_ = lgb.train(
                {
                    "objective": "binary",
                    "learning_rate": p["learning_rate"],
                    "num_leaves": p["num_leaves"],
                    "min_data_in_leaf": p["min_child_samples"],
                    "min_sum_hessian_in_leaf": 1e-3,
                    "feature_fraction": p["colsample_bytree"],
                    "lambda_l2": 1.0,
                    "num_threads": 1,
                    "deterministic": True,
                    "force_col_wise": True,
                    "seed": self.random_state,
                    "verbose": -1,
                },
                train,
                num_boost_round=p["n_estimators"],
            )
        return self

    def _require_fitted(self) -> None:
        if self.coef_ is None:
            raise RuntimeError("TasteModel is not fitted")

    def predict_proba(self, X: sp.csr_matrix) -> np.ndarray:
        """P(like) per row of X, float64 in [0, 1]."""
        self._require_fitted()
        X = sp.csr_matrix(X, dtype=np.float64)
        offset = self._offset(X)
        p_lr = _sigmoid(X @ self.coef_ + self.intercept_ + offset)
        w = self.params["lgb_weight"] if self.booster_ is not None else 0.0
        if w == 0:
            return p_lr
        # LightGBM's raw score excludes the init_score it was trained with: add it back.
        raw = self.booster_.predict(X.astype(np.float32), raw_score=True, num_threads=1)
        return w * _sigmoid(raw + offset) + (1.0 - w) * p_lr

    def explain(self, feature_names: list[str], top: int = 15) -> dict:
        """The readable features that push P(like) up or down most (linear part's weights).

        Returns ``{"up": [(name, weight), ...], "down": [(name, weight), ...]}``, strongest
        first; latent factors are left out (they have no readable name).
        """
        self._require_fitted()
        if len(feature_names) != len(self.coef_):
            raise ValueError("feature_names do not match the model's features")
        readable = np.array([not n.startswith(_OPAQUE_PREFIXES) for n in feature_names])
        coef = np.where(readable, self.coef_, 0.0)
        order = np.argsort(coef)
        up = [(feature_names[i], float(coef[i])) for i in order[::-1][:top] if coef[i] > 0]
        down = [(feature_names[i], float(coef[i])) for i in order[:top] if coef[i] < 0]
        return {"up": up, "down": down}

    def save(self, directory: Path) -> None:
        self._require_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.booster_ is not None:
            self.booster_.save_model(str(directory / "lightgbm.txt"))
        np.savez(
            directory / "linear.npz",
            coef=self.coef_,
            intercept=np.array([self.intercept_]),
        )
        meta = {
            "format": FORMAT_VERSION,
            "random_state": self.random_state,
            "params": self.params,
            "n_features": self.n_features_,
            "has_lightgbm": self.booster_ is not None,
            "lightgbm_version": lgb.__version__,
        }
        (directory / "taste.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> TasteModel:
        directory = Path(directory)
        meta = _read_meta(directory / "taste.json", "taste model")
        model = cls(random_state=meta["random_state"], **meta["params"])
        with np.load(directory / "linear.npz", allow_pickle=False) as linear:
            model.coef_ = linear["coef"]
            model.intercept_ = float(linear["intercept"][0])
        model.n_features_ = meta["n_features"]
        if meta["has_lightgbm"]:
            model.booster_ = lgb.Booster(model_file=str(directory / "lightgbm.txt"))
        return model


def evaluate_cv(X, y, *, folds: int = 5, random_state: int = 0, **params) -> dict:
    """Cross-validated metrics from out-of-fold P(like).

    Returns ``{"average_precision", "roc_auc" (None if undefined), "base_rate",
    "n_labels", "n_pos", "n_neg", "pr_curve": {"precision": [...], "recall": [...]}}``.
    Raises :class:`NotEnoughLabels` when a class has fewer than 2 labels.
    """
    y = np.asarray(y).astype(np.int64).ravel()
    _check_labels(y)
    X = sp.csr_matrix(X, dtype=np.float32)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    k = min(folds, n_pos, n_neg)
    if k < 2:
        raise NotEnoughLabels(
            f"cross-validation needs at least two likes and two dislikes "
            f"(have {n_pos} likes, {n_neg} dislikes)"
        )
    oof = np.empty(len(y), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state)
    for train, test in splitter.split(np.zeros(len(y)), y):
        if len(np.unique(y[train])) < 2 or len(train) < MIN_LABELS:
            oof[test] = y[train].mean()
            continue
        model = TasteModel(random_state=random_state, **params).fit(X[train], y[train])
        oof[test] = model.predict_proba(X[test])
    precision, recall, _ = precision_recall_curve(y, oof)
    # At most ~100 points: enough to draw, small enough to store on a run row.
    keep = np.unique(np.linspace(0, len(precision) - 1, min(len(precision), 101)).astype(int))
    return {
        "average_precision": float(average_precision_score(y, oof)),
        "roc_auc": float(roc_auc_score(y, oof)),
        "base_rate": float(y.mean()),
        "n_labels": int(len(y)),
        "n_pos": n_pos,
        "n_neg": n_neg,
        "pr_curve": {
            "precision": [round(float(v), 4) for v in precision[keep]],
            "recall": [round(float(v), 4) for v in recall[keep]],
        },
    }
