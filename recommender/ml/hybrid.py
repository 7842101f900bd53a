"""Learned hybrid ranking: every engine's opinion, blended per user by a LightGBM ranker.

Components (each fitted on the same rows, each scoring a user from their list alone):

* ``ease``: EASE item-item ridge (binary lists); also scored from the user's *disliked*
  titles alone (``ease_dislike``), so a title close to what the user rated low is pushed
  down: low scores count against a title's neighbours;
* ``watchlist_nn``: the neural watch-list model (binary lists);
* ``als``: implicit ALS, the user's factors folded in from their list;
* ``knn_baseline``: KNN with baseline on the explicit scores, the predicted score of the
  user for the title and its neighbourhood part;
* ``popularity``: how many users completed the title, its mean score and item bias;
* side scorers (optional): any extra per-title score column, e.g. the per-user taste
  model or :class:`ContentScorer`; they join the features under their own name.

For every user the candidates are the union of each collaborative component's top titles;
each (user, candidate) row carries the components' scores, their ranks among all unseen
titles and per-user standardised scores, how strongly the user's own titles (and their
favourites) link to it one by one in EASE's weights, plus what is known about the user
(list length, scored titles, mean score, dislikes) and about the title (popularity, mean
score), so the ranker can learn to lean on popularity for short lists and on the
collaborative models for long ones.

Training never touches the rows it is evaluated on: ``fit`` holds out 20 % of the
positives of each user of its *own* input (``validation_seed``), fits the components on
the rest, trains the LightGBM lambdarank model to put the held-out titles first (early
stopping on a fifth of those users), records validation NDCG@10 of the hybrid and of each
component on the same users, and then refits the components on all rows. The two fits
are needed: components fitted on every row have learnt the held-out titles, so their
scores for them would teach the ranker to trust them far more than it should for a
title the user has not listed; and serving from the first fit would drop a fifth of
every user's titles from the models. Serving is one
pass per batch of lists, with per-component contributions (LightGBM's SHAP values
summed per component) and, for each title, the user's own titles that point to it most.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from .data import Ratings, split_topn
from .preferences import DEFAULT_RULE, UNSCORED, PreferenceRule

_FORMAT_VERSION = 1
UNMODELLED = -1e30  # watchlist_nn's score for titles it does not model
_BATCH = 256  # lists scored at once: bounds the dense (rows x n_items) score blocks
COMPONENTS = ("ease", "watchlist_nn", "als", "knn_baseline", "popularity")
# What each component's lift rests on, for the reasons a card gives: the user's own
# titles pointing to it ("neighbours"), people with lists like theirs ("community"), or
# how widely it is watched ("popularity"). A side scorer is known by its own name.
COMPONENT_EVIDENCE = {
    "ease": "neighbours",
    "knn_baseline": "neighbours",
    "watchlist_nn": "community",
    "als": "community",
    "popularity": "popularity",
}
CANDIDATE_SOURCES = ("ease", "watchlist_nn", "als")


class SideScorer(Protocol):
    """An extra score column (the per-user taste model's slot): plain Python, no refit
    per user. ``name`` prefixes its features and names its contribution."""

    name: str

    def fit(self, user_items: sp.csr_matrix) -> SideScorer: ...

    def score(self, user_items: sp.csr_matrix) -> np.ndarray:
        """(n_rows, n_items) float32 scores for lists in the hybrid's input format."""
        ...

    def save(self, directory: Path) -> None: ...


class ContentScorer:
    """Content profile score: cosine between a title's features (genres, studios, ...)
    and the user's profile, liked titles adding and disliked ones subtracting.

    ``item_features``: (n_items, n_features) sparse, rows aligned with the hybrid's item
    index; IDF-weighted and L2-normalised here. A stand-in for the taste model that
    needs no labels.
    """

    def __init__(self, item_features: sp.csr_matrix, name: str = "content") -> None:
        self.name = name
        f = sp.csr_matrix(item_features, dtype=np.float32)
        df = np.asarray((f > 0).sum(axis=0)).ravel()
        idf = np.log((1.0 + f.shape[0]) / (1.0 + df)).astype(np.float32) + 1.0
        f = sp.csr_matrix(f @ sp.diags(idf))
        norms = np.sqrt(np.asarray(f.multiply(f).sum(axis=1)).ravel())
        self.features = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ f)

    def fit(self, user_items: sp.csr_matrix) -> ContentScorer:
        return self

    def score(self, user_items: sp.csr_matrix) -> np.ndarray:
        liked, disliked, _ = split_signals(user_items)
        weights = liked - 0.5 * disliked
        profile = weights @ self.features
        norms = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1)).ravel())
        profile = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ profile)
        return np.asarray((profile @ self.features.T).todense(), dtype=np.float32)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        sp.save_npz(directory / "features.npz", self.features)
        (directory / "side.json").write_text(json.dumps({"kind": "content", "name": self.name}))

    @classmethod
    def load(cls, directory: Path) -> ContentScorer:
        meta = json.loads((directory / "side.json").read_text())
        scorer = cls.__new__(cls)
        scorer.name = meta["name"]
        scorer.features = sp.load_npz(directory / "features.npz").tocsr()
        return scorer


SIDE_LOADERS = {"content": ContentScorer.load}


def split_signals(
    user_items: sp.csr_matrix, rule: PreferenceRule = DEFAULT_RULE
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """(liked, disliked, watched) 0/1 CSR matrices of a list matrix in the hybrid format.

    Input values: 1-10 explicit scores, -1 completed without a score; any non-zero entry
    is watched. Disliked: ``rule.is_dislike``, which counts against its neighbours;
    "liked" here is every other watched title (the models' positive signal), wider than
    ``rule.is_like``.
    """
    x = sp.csr_matrix(user_items, dtype=np.float32)
    x.eliminate_zeros()
    disliked_mask = rule.is_dislike(x.data)

    def pick(mask: np.ndarray) -> sp.csr_matrix:
        # Own copies of the index arrays: eliminate_zeros rewrites them in place.
        m = sp.csr_matrix(
            (mask.astype(np.float32), x.indices.copy(), x.indptr.copy()), shape=x.shape
        )
        m.eliminate_zeros()
        return m

    return pick(~disliked_mask), pick(disliked_mask), pick(np.ones_like(disliked_mask))


def explicit_only(user_items: sp.csr_matrix) -> sp.csr_matrix:
    """The 1-10 scores of a list matrix (unscored entries dropped)."""
    x = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
    x.data[x.data < 1] = 0
    x.eliminate_zeros()
    return x


def holdout_positives(
    user_items: sp.csr_matrix,
    fraction: float = 0.2,
    min_positives: int = 5,
    seed: int = 2,
    rule: PreferenceRule = DEFAULT_RULE,
) -> tuple[sp.csr_matrix, dict[int, np.ndarray]]:
    """:func:`recommender.ml.data.split_topn` of a list matrix: hold out ``fraction`` of
    each user's positives (``rule.is_positive``: a like or -1).

    Returns the remaining rows and {row: held-out item indices}, for users with at least
    ``min_positives`` positives. The rows go to ``split_topn`` in CSR order (by row, then
    column), so for a seed it draws the same titles a per-row loop over the CSR did.
    """
    x = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
    x.eliminate_zeros()
    x.sort_indices()
    users = np.repeat(np.arange(x.shape[0], dtype=np.int32), np.diff(x.indptr))
    ratings = Ratings(users, x.indices, x.data, np.arange(x.shape[0]), np.arange(x.shape[1]))
    rest, held = split_topn(ratings, fraction, min_positives, seed=seed, rule=rule)
    remaining = sp.csr_matrix((rest.scores, (rest.users, rest.items)), shape=x.shape)
    return remaining, {u: items.astype(np.int64) for u, items in held.items()}


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of every column in each row of ``scores`` (-inf last)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :], axis=1)
    return ranks


def _exclusion_mask(n_items: int, exclude) -> np.ndarray | None:
    """Boolean mask of the item indices in ``exclude`` (None when there are none)."""
    if exclude is None or not len(exclude):
        return None
    mask = np.zeros(n_items, dtype=bool)
    mask[np.asarray(exclude, dtype=np.int64)] = True
    return mask


def _standardise(scores: np.ndarray, unseen: np.ndarray) -> np.ndarray:
    """Per-row z-scores over the unseen titles (a scale that survives a refit)."""
    masked = np.where(unseen & np.isfinite(scores), scores, np.nan)
    with warnings.catch_warnings():
        # A list of every title leaves a row with nothing unseen: NaN, not a warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(masked, axis=1, keepdims=True)
        std = np.nanstd(masked, axis=1, keepdims=True)
    return (scores - mean) / np.maximum(std, 1e-9)


@dataclass
class Components:
    """The fitted engines and the per-title statistics of one training matrix."""

    ease: object
    nn: object
    als: object
    knn: object
    counts: np.ndarray  # users who completed each title
    mean_score: np.ndarray  # mean explicit score per title (global mean if none)
    score_count: np.ndarray  # explicit scores per title
    side: list = field(default_factory=list)


@dataclass(frozen=True)
class HybridTopN:
    """:meth:`HybridRanker.recommend_detailed`: ``indices``/``scores`` (n_rows, n) best
    first; ``contributions`` (n_rows, n, len(groups)) the ranker's score split by
    component (SHAP values; they sum to the score minus ``base_value``); ``because``
    (n_rows, n, 2) the user's own titles that point most to each title (-1 = none)."""

    indices: np.ndarray
    scores: np.ndarray
    contributions: np.ndarray
    groups: tuple[str, ...]
    because: np.ndarray
    base_value: float


@dataclass
class HybridRanking:
    """:meth:`HybridRanker.rank`: ``indices``/``scores`` (n_rows, n) best first, with the
    ranked titles' features kept so that any of them can be explained afterwards."""

    ranker: HybridRanker
    user_items: sp.csr_matrix
    indices: np.ndarray
    scores: np.ndarray
    features: np.ndarray

    def explain(self, row: int, positions: np.ndarray) -> HybridTopN:
        """The titles at ``positions`` of ``row``, with their contributions (zero for a
        popular title filled in after the candidates) and "because" titles."""
        positions = np.asarray(positions, dtype=np.int64)
        idx = self.indices[row, positions][None, :]
        ranker = self.ranker
        contrib = np.zeros((1, len(positions), len(ranker.contribution_groups())), np.float32)
        base = 0.0
        # Filled-in popular titles have no features: nothing of the ranker to split.
        ranked = np.flatnonzero(self.features[row, positions].any(axis=1))
        if len(ranked):
            contrib[0, ranked], base = ranker._contributions(self.features[row, positions[ranked]])
        return HybridTopN(
            indices=idx,
            scores=self.scores[row, positions][None, :],
            contributions=contrib,
            groups=ranker.contribution_groups(),
            because=ranker.because(self.user_items[row], idx),
            base_value=base,
        )


class HybridRanker:
    """LightGBM lambdarank over the engines' scores and ranks, user and title features.

    ``fit`` and ``recommend`` take lists as a (n_users, n_items) CSR: 1-10 scores, -1 for
    completed without a score (0 / absent = not on the list). Implements
    :class:`recommender.ml.base.Recommender`.

    ``ranker_users`` caps the validation users the ranker learns from (every one of the
    shared data's ~4,400; a sample at MAL scale, where all would be 300k users' worth of
    candidate rows).
    """

    def __init__(
        self,
        *,
        ease_lam: float = 200.0,
        nn_params: dict | None = None,
        als_params: dict | None = None,
        knn_params: dict | None = None,
        candidates: int = 60,
        dislike_weight: float = 1.0,
        validation_fraction: float = 0.2,
        validation_seed: int = 2,
        ranker_users: int | None = 20_000,
        n_estimators: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 400,
        early_stopping_rounds: int = 40,
        random_state: int = 0,
        link_features: bool = True,
        like_min: int = DEFAULT_RULE.like_min,
        dislike_max: int = DEFAULT_RULE.dislike_max,
        side_scorers: Sequence[SideScorer] = (),
    ) -> None:
        self.ease_lam = ease_lam
        self.nn_params = dict(nn_params or {})
        self.als_params = dict(als_params or {})
        self.knn_params = dict(knn_params or {})
        self.candidates = candidates
        self.dislike_weight = dislike_weight
        self.validation_fraction = validation_fraction
        self.validation_seed = validation_seed
        self.ranker_users = ranker_users
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.link_features = link_features
        # What a like and a dislike are (recommender.ml.preferences); saved with the model.
        self.rule = PreferenceRule(like_min=like_min, dislike_max=dislike_max)
        self.like_min, self.dislike_max = like_min, dislike_max
        self.side_scorers = list(side_scorers)
        self.components: Components | None = None
        self.booster = None
        self.feature_names: list[str] = []
        self.validation_: dict = {}
        self.n_items = 0

    _CONFIG = (
        "ease_lam",
        "nn_params",
        "als_params",
        "knn_params",
        "candidates",
        "dislike_weight",
        "validation_fraction",
        "validation_seed",
        "ranker_users",
        "n_estimators",
        "learning_rate",
        "num_leaves",
        "min_child_samples",
        "early_stopping_rounds",
        "random_state",
        "link_features",
        "like_min",
        "dislike_max",
    )

    # -- components ----------------------------------------------------------------

    def _fit_components(self, x: sp.csr_matrix) -> Components:
        from .baselines import ALS, EASE
        from .knn_baseline import KNNBaseline
        from .watchlist_nn import WatchlistNN

        _, _, watched = split_signals(x, self.rule)
        explicit = explicit_only(x)
        counts = np.diff(watched.tocsc().indptr).astype(np.float32)
        score_count = np.diff(explicit.tocsc().indptr).astype(np.float32)
        score_sum = np.asarray(explicit.sum(axis=0)).ravel()
        global_mean = float(explicit.data.mean()) if explicit.nnz else 7.0
        mean_score = np.where(
            score_count > 0, score_sum / np.maximum(score_count, 1), global_mean
        ).astype(np.float32)
        nn = WatchlistNN(**{"random_state": self.random_state, **self.nn_params})
        als = ALS(**{"random_state": self.random_state, **self.als_params})
        return Components(
            ease=EASE(lam=self.ease_lam).fit(watched),
            nn=nn.fit(watched),
            als=als.fit(watched),
            knn=KNNBaseline(**self.knn_params).fit(explicit),
            counts=counts,
            mean_score=mean_score,
            score_count=score_count,
            side=[s.fit(x) for s in self.side_scorers],
        )

    def _component_scores(self, comp: Components, x: sp.csr_matrix) -> dict[str, np.ndarray]:
        """Dense (rows, n_items) scores of every component for a batch of lists."""
        liked, disliked, watched = split_signals(x, self.rule)
        ease_b = comp.ease.B
        # A dislike counts against its neighbours: -dislike_weight in EASE's input (a
        # like or an unscored completion is +1), so they also leave the candidates.
        signed = liked - self.dislike_weight * disliked
        out = {
            "ease": np.asarray(signed @ ease_b),
            "ease_dislike": np.asarray(disliked @ ease_b),
            "watchlist_nn": comp.nn.score(watched),
        }
        # Titles the network does not model: missing, not a huge negative score.
        out["watchlist_nn"][out["watchlist_nn"] <= UNMODELLED / 2] = np.nan
        factors = comp.als.user_factors(watched)
        out["als"] = factors @ comp.als.model.item_factors.T
        est, _ = comp.knn._score_rows(
            sp.csr_matrix(explicit_only(x), dtype=np.float64), known_users=None
        )
        out["knn_baseline"] = est
        for scorer in comp.side:
            out[scorer.name] = scorer.score(x)
        return out

    # -- features ------------------------------------------------------------------

    def _features(
        self, comp: Components, x: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """Candidates and their features for a batch of lists.

        Returns (row of each candidate, item of each candidate, features
        (n_candidates, n_features) float32, feature names).
        """
        x = sp.csr_matrix(x, dtype=np.float32)
        x.eliminate_zeros()
        n_rows, n_items = x.shape
        scores = self._component_scores(comp, x)
        seen = np.zeros((n_rows, n_items), dtype=bool)
        seen[np.repeat(np.arange(n_rows), np.diff(x.indptr)), x.indices] = True
        unseen = ~seen

        # Candidates: the union of the collaborative components' top titles.
        cand = np.zeros((n_rows, n_items), dtype=bool)
        ranks = {}
        for name in (*CANDIDATE_SOURCES, "knn_baseline", *(s.name for s in comp.side)):
            masked = np.where(unseen & np.isfinite(scores[name]), scores[name], -np.inf)
            ranks[name] = _ranks(masked)
            if name in CANDIDATE_SOURCES:
                cand |= ranks[name] < self.candidates
        cand &= unseen
        rows, items = np.nonzero(cand)

        cols: dict[str, np.ndarray] = {}
        for name in ranks:
            s = scores[name]
            cols[f"{name}_score"] = s[rows, items]
            cols[f"{name}_rank"] = np.log1p(ranks[name][rows, items])
            cols[f"{name}_z"] = _standardise(s, unseen)[rows, items]
        cols["ease_dislike_score"] = scores["ease_dislike"][rows, items]
        knn = comp.knn
        cols["knn_baseline_neighbour"] = (
            scores["knn_baseline"][rows, items] - knn.global_mean_ - knn.bi_[items]
        )
        cols["popularity_log_count"] = np.log1p(comp.counts[items])
        cols["popularity_mean_score"] = comp.mean_score[items]
        cols["popularity_log_scores"] = np.log1p(comp.score_count[items])
        cols["popularity_item_bias"] = knn.bi_[items]

        explicit = explicit_only(x)
        n_watched = np.diff(x.indptr).astype(np.float32)
        n_scored = np.diff(explicit.indptr).astype(np.float32)
        score_sum = np.asarray(explicit.sum(axis=1)).ravel()
        sq_sum = np.asarray(explicit.multiply(explicit).sum(axis=1)).ravel()
        mean = np.where(n_scored > 0, score_sum / np.maximum(n_scored, 1), np.nan)
        std = np.sqrt(np.maximum(sq_sum / np.maximum(n_scored, 1) - mean**2, 0))
        n_disliked = np.diff(split_signals(x, self.rule)[1].indptr).astype(np.float32)
        cols["user_log_watched"] = np.log1p(n_watched)[rows]
        cols["user_scored_fraction"] = (n_scored / np.maximum(n_watched, 1))[rows]
        cols["user_mean_score"] = mean[rows]
        cols["user_score_std"] = np.where(n_scored > 1, std, np.nan)[rows]
        cols["user_disliked_fraction"] = (n_disliked / np.maximum(n_scored, 1))[rows]
        if self.link_features:
            cols.update(_link_features(comp.ease.B, x, rows, items, self.rule))
        names = list(cols)
        feats = np.column_stack([np.asarray(cols[k], dtype=np.float32) for k in names])
        return rows, items, feats, names

    # -- training ------------------------------------------------------------------

    def fit(self, user_items: sp.csr_matrix) -> HybridRanker:
        """Learn the ranker on a validation split of ``user_items``, then refit the
        components on all of it. See the module docstring."""

        x = sp.csr_matrix(user_items, dtype=np.float32)
        x.eliminate_zeros()
        if x.nnz == 0:
            raise ValueError("user_items holds no entry")
        bad = (x.data != UNSCORED) & ((x.data < 1) | (x.data > 10))
        if bad.any():
            raise ValueError("entries must be scores 1-10 or -1 (completed, unscored)")
        self.n_items = x.shape[1]
        fit_rows, held = holdout_positives(
            x, self.validation_fraction, seed=self.validation_seed, rule=self.rule
        )
        if len(held) < 10:
            raise ValueError("too few users with 5+ liked titles to train the ranker")
        self._fit_ranker(self._fit_components(fit_rows), fit_rows, held)
        self.components = self._fit_components(x)
        return self

    def _fit_ranker(self, comp: Components, fit_rows: sp.csr_matrix, held: dict) -> None:
        """Train the booster on components fitted to ``fit_rows``, ``held`` the labels."""
        import lightgbm as lgb

        rng = np.random.default_rng(self.random_state)
        users = np.array(sorted(held), dtype=np.int64)
        if self.ranker_users is not None and len(users) > self.ranker_users:
            users = np.sort(rng.choice(users, self.ranker_users, replace=False))
        n_stop = max(2, len(users) // 5)
        stop_users = np.sort(rng.choice(users, n_stop, replace=False))
        train_users = np.setdiff1d(users, stop_users)

        rows, _, feats, labels, _ = self._ranking_set(comp, fit_rows, users, held)
        is_stop = np.isin(users[rows], stop_users)  # rows index ``users``, sorted

        def dataset(mask, reference=None):
            groups = np.bincount(rows[mask], minlength=len(users))
            return lgb.Dataset(
                feats[mask],
                labels[mask],
                group=groups[groups > 0],
                feature_name=self.feature_names,
                reference=reference,
            )

        params = self._lgb_params()
        ds_train = dataset(~is_stop)
        booster = lgb.train(
            params,
            ds_train,
            num_boost_round=self.n_estimators,
            valid_sets=[dataset(is_stop, ds_train)],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        best = booster.best_iteration or self.n_estimators
        self.booster = booster
        self.validation_ = self._validation_report(comp, fit_rows, stop_users, held, best)
        self.validation_.update(
            users=int(len(users)), ranker_train_users=int(len(train_users)), best_iteration=best
        )
        # The stopping users told us how many rounds generalise; train on every
        # validation user for that many.
        self.booster = lgb.train(params, dataset(np.ones(len(rows), bool)), num_boost_round=best)

    def _monotone(self) -> list[int]:
        """+1 / -1: the ranker's score may only rise / fall with the feature.

        Guarantees what the product promises whatever the data teach: more EASE support
        or a higher predicted score never hurts a title, a dislike among its neighbours
        never helps it.
        """
        up = {"ease_score", "ease_z", "knn_baseline_score", "knn_baseline_z"}
        up |= {"knn_baseline_neighbour"}
        down = {"ease_rank", "knn_baseline_rank", "ease_dislike_score"}
        return [1 if f in up else -1 if f in down else 0 for f in self.feature_names]

    def _lgb_params(self) -> dict:
        return {
            "monotone_constraints": self._monotone(),
            "monotone_constraints_method": "intermediate",
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [10],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "lambdarank_truncation_level": 20,
            "seed": self.random_state,
            "deterministic": True,
            "num_threads": 0,
            "verbose": -1,
        }

    def _ranking_set(self, comp, rows_matrix, users, held):
        """(rows, items, features, labels, group sizes) for ``users``' validation lists."""
        parts = []
        for start in range(0, len(users), _BATCH):
            batch = users[start : start + _BATCH]
            r, i, f, names = self._features(comp, rows_matrix[batch])
            self.feature_names = names
            labels = np.zeros(len(r), dtype=np.float32)
            bounds = np.searchsorted(r, np.arange(len(batch) + 1))  # r is sorted
            for j, u in enumerate(batch):
                sel = slice(bounds[j], bounds[j + 1])
                labels[sel] = np.isin(i[sel], held[int(u)])
            parts.append((r + start, i, f, labels))
        rows = np.concatenate([p[0] for p in parts])
        items = np.concatenate([p[1] for p in parts])
        feats = np.vstack([p[2] for p in parts])
        labels = np.concatenate([p[3] for p in parts])
        groups = np.bincount(rows, minlength=len(users))
        return rows, items, feats, labels, groups[groups > 0]

    def _validation_report(self, comp, rows_matrix, users, held, best) -> dict:
        """NDCG@10 / Recall@10 on the early-stopping users: hybrid and each component."""
        from .metrics import ndcg_at_k, recall_at_k

        x = rows_matrix[users]
        relevant = [held[int(u)] for u in users]
        ranked = {"hybrid": self._rank(comp, x, 10, num_iteration=best)[0]}
        for start in range(0, len(users), _BATCH):
            sl = slice(start, start + _BATCH)
            scores = self._component_scores(comp, x[sl])
            _, _, watched = split_signals(x[sl], self.rule)
            for name in ("ease", "watchlist_nn", "als", "knn_baseline"):
                s = np.where(watched.toarray() > 0, -np.inf, scores[name])
                top = np.argsort(-s, axis=1, kind="stable")[:, :10]
                ranked.setdefault(name, []).append(top)
        out = {}
        for name, recs in ranked.items():
            recs = recs if name == "hybrid" else np.vstack(recs)
            out[name] = {
                "ndcg@10": float(
                    np.mean([ndcg_at_k(r, t, 10) for r, t in zip(recs, relevant, strict=True)])
                ),
                "recall@10": float(
                    np.mean([recall_at_k(r, t, 10) for r, t in zip(recs, relevant, strict=True)])
                ),
            }
        return {"ndcg_users": int(len(users)), "metrics": out}

    # -- serving -------------------------------------------------------------------

    def _rank(self, comp, x, n, num_iteration=None, explain=False, exclude=None, features=None):
        """Top-``n`` of each row. ``explain``: SHAP contributions of every kept title;
        ``features`` (an array (n_rows, n, n_features) to fill): the kept titles' features,
        to explain some of them later (:class:`HybridRanking`)."""
        x = sp.csr_matrix(x, dtype=np.float32)
        excluded = _exclusion_mask(self.n_items, exclude)
        n_rows = x.shape[0]
        n = min(n, self.n_items)
        indices = np.full((n_rows, n), -1, dtype=np.int64)
        scores = np.full((n_rows, n), -np.inf, dtype=np.float32)
        contrib = np.zeros((n_rows, n, len(self.contribution_groups())), dtype=np.float32)
        base = 0.0
        for start in range(0, n_rows, _BATCH):
            batch = x[start : start + _BATCH]
            r, i, f, _ = self._features(comp, batch)
            if excluded is not None:
                ok = ~excluded[i]
                r, i, f = r[ok], i[ok], f[ok]
            pred = self.booster.predict(f, num_iteration=num_iteration)
            order = np.lexsort((-pred, r))
            r, i, pred, f = r[order], i[order], pred[order], f[order]
            first = np.searchsorted(r, np.arange(batch.shape[0]))
            pos = np.arange(len(r)) - first[r]
            keep = pos < n
            rr, pp = r[keep] + start, pos[keep]
            indices[rr, pp] = i[keep]
            scores[rr, pp] = pred[keep]
            if features is not None:
                features[rr, pp] = f[keep]
            if explain and keep.any():
                contrib[rr, pp], base = self._contributions(f[keep], num_iteration)
        self._fill_short(comp, x, indices, scores, excluded)
        return indices, scores, contrib, base

    def _contributions(self, features: np.ndarray, num_iteration=None) -> tuple[np.ndarray, float]:
        """SHAP values of ``features`` summed by contribution group, and the base value."""
        groups = self.contribution_groups()
        group_of = np.array([groups.index(_group_of(f, groups)) for f in self.feature_names])
        shap = self.booster.predict(features, num_iteration=num_iteration, pred_contrib=True)
        per_group = np.zeros((len(shap), len(groups)), dtype=np.float32)
        np.add.at(per_group.T, group_of, shap[:, :-1].T)
        return per_group, float(shap[0, -1])

    def _fill_short(self, comp, x, indices, scores, excluded=None) -> None:
        """Lists with fewer candidates than ``n`` get popular unseen titles after them.

        A long list (or many excluded titles) can leave fewer unseen titles than empty
        slots: those that remain fill the first slots, the rest stay -1 / -inf."""
        short = np.flatnonzero((indices < 0).any(axis=1))
        if not len(short):
            return
        order = np.argsort(-comp.counts, kind="stable")
        if excluded is not None:
            order = order[~excluded[order]]
        for row in short:
            taken = np.zeros(self.n_items, dtype=bool)
            taken[indices[row][indices[row] >= 0]] = True
            taken[x.indices[x.indptr[row] : x.indptr[row + 1]]] = True
            fill = order[~taken[order]]
            slots = np.flatnonzero(indices[row] < 0)[: len(fill)]
            if not len(slots):
                continue
            lowest = scores[row][np.isfinite(scores[row])].min(initial=0.0)
            indices[row, slots] = fill[: len(slots)]
            scores[row, slots] = lowest - 1.0 - np.arange(len(slots), dtype=np.float32)

    def recommend(
        self, user_items: sp.csr_matrix, n: int = 10, exclude=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` (indices int64, scores float32), (n_rows, n), listed titles and the
        item indices in ``exclude`` (hidden titles, say) left out. Where fewer titles
        remain than ``n`` (a list of nearly the whole catalog), the row ends in -1 / -inf."""
        self._check_fitted()
        idx, sc, _, _ = self._rank(self.components, user_items, n, exclude=exclude)
        return idx, sc

    def recommend_detailed(
        self, user_items: sp.csr_matrix, n: int = 10, exclude=None
    ) -> HybridTopN:
        """Top-``n`` with each title's per-component contributions and "because" titles.
        ``exclude`` as in :meth:`recommend`: excluded titles cost no explanation."""
        self._check_fitted()
        x = sp.csr_matrix(user_items, dtype=np.float32)
        idx, sc, contrib, base = self._rank(self.components, x, n, explain=True, exclude=exclude)
        return HybridTopN(
            indices=idx,
            scores=sc,
            contributions=contrib,
            groups=self.contribution_groups(),
            because=self.because(x, idx),
            base_value=base,
        )

    def rank(self, user_items: sp.csr_matrix, n: int = 10, exclude=None) -> HybridRanking:
        """Top-``n`` as :meth:`recommend`, explained later for the titles a page keeps:
        SHAP costs about 0.25 ms a title, so a request that shows 20 of its top 85
        explains those 20 only (:meth:`HybridRanking.explain`)."""
        self._check_fitted()
        x = sp.csr_matrix(user_items, dtype=np.float32)
        n = min(n, self.n_items)
        features = np.zeros((x.shape[0], n, len(self.feature_names)), dtype=np.float32)
        idx, sc, _, _ = self._rank(self.components, x, n, exclude=exclude, features=features)
        return HybridRanking(self, x, idx, sc, features)

    def because(self, user_items: sp.csr_matrix, indices: np.ndarray, top: int = 2) -> np.ndarray:
        """(n_rows, n, top) the user's liked titles (``rule.is_like``: what a reason may
        name) with the largest EASE weight towards each recommended title (-1 where fewer
        point to it)."""
        x = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
        x.data = self.rule.is_like(x.data).astype(np.float32)
        x.eliminate_zeros()
        liked = x
        ease_b = self.components.ease.B
        out = np.full((*indices.shape, top), -1, dtype=np.int64)
        for row in range(indices.shape[0]):
            mine = liked.indices[liked.indptr[row] : liked.indptr[row + 1]]
            if not len(mine):
                continue
            targets = np.maximum(indices[row], 0)
            w = ease_b[np.ix_(mine, targets)]  # (liked, n)
            best = np.argsort(-w, axis=0, kind="stable")[:top]
            for k in range(min(top, len(mine))):
                # A -1 slot (fewer titles left than asked for) points to nothing.
                ok = (w[best[k], np.arange(len(targets))] > 0) & (indices[row] >= 0)
                out[row, ok, k] = mine[best[k][ok]]
        return out

    def contribution_groups(self) -> tuple[str, ...]:
        return (*COMPONENTS, *(s.name for s in self.side_scorers), "user")

    def _check_fitted(self) -> None:
        if self.components is None or self.booster is None:
            raise RuntimeError("HybridRanker is not fitted")

    # -- persistence ---------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        """Each component in its own sub-folder (their own formats), the ranker as
        LightGBM's text model, statistics as npz, the rest as JSON. No pickle."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        comp = self.components
        comp.ease.save(directory / "ease.npz")
        comp.nn.save(directory / "watchlist_nn")
        comp.knn.save(directory / "knn_baseline.npz")
        np.savez(
            directory / "als.npz",
            user_factors=comp.als.model.user_factors,
            item_factors=comp.als.model.item_factors,
        )
        np.savez(
            directory / "stats.npz",
            counts=comp.counts,
            mean_score=comp.mean_score,
            score_count=comp.score_count,
        )
        for scorer in comp.side:
            scorer.save(directory / "side" / scorer.name)
        (directory / "ranker.txt").write_text(self.booster.model_to_string())
        meta = {
            "format_version": _FORMAT_VERSION,
            "config": {k: getattr(self, k) for k in self._CONFIG},
            "als_config": {
                k: getattr(comp.als, k)
                for k in ("factors", "iterations", "regularization", "alpha", "random_state")
            },
            "n_items": self.n_items,
            "feature_names": self.feature_names,
            "side": [s.name for s in comp.side],
            "validation": self.validation_,
        }
        (directory / "hybrid.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> HybridRanker:
        import lightgbm as lgb

        from .baselines import ALS, EASE
        from .knn_baseline import KNNBaseline
        from .watchlist_nn import WatchlistNN

        directory = Path(directory)
        meta = json.loads((directory / "hybrid.json").read_text())
        if meta.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported hybrid format {meta.get('format_version')}")
        side = [
            SIDE_LOADERS[json.loads((directory / "side" / n / "side.json").read_text())["kind"]](
                directory / "side" / n
            )
            for n in meta["side"]
        ]
        # Artifacts from before the link features were trained without them.
        model = cls(**{"link_features": False, **meta["config"]}, side_scorers=side)
        model.n_items = int(meta["n_items"])
        model.feature_names = list(meta["feature_names"])
        model.validation_ = meta.get("validation", {})
        als = ALS(**meta["als_config"])
        als.model = _als_from_arrays(directory / "als.npz", meta["als_config"])
        with np.load(directory / "stats.npz", allow_pickle=False) as f:
            stats = {k: f[k] for k in ("counts", "mean_score", "score_count")}
        model.components = Components(
            ease=EASE.load(directory / "ease.npz"),
            nn=WatchlistNN.load(directory / "watchlist_nn"),
            als=als,
            knn=KNNBaseline.load(directory / "knn_baseline.npz"),
            side=side,
            **stats,
        )
        model.booster = lgb.Booster(model_str=(directory / "ranker.txt").read_text())
        return model


def _link_features(
    ease_b: np.ndarray,
    x: sp.csr_matrix,
    rows: np.ndarray,
    items: np.ndarray,
    rule: PreferenceRule = DEFAULT_RULE,
) -> dict[str, np.ndarray]:
    """How the candidate hangs together with the user's own titles, title by title.

    The EASE score sums every liked title's weight; one strong link (a sequel, a
    near-twin) and the links from the user's favourites are lost in that sum.
    ``ease_link_max``: the largest weight from a liked title; ``ease_link_fav``: the
    largest from the user's top-scored titles (score >= their 90th percentile, or the
    liked ones when nothing is scored); ``ease_link_share``: share of the liked titles
    with a positive weight towards it.
    """
    liked, _, _ = split_signals(x, rule)
    link_max = np.zeros(len(rows), dtype=np.float32)
    link_fav = np.zeros(len(rows), dtype=np.float32)
    share = np.zeros(len(rows), dtype=np.float32)
    bounds = np.searchsorted(rows, np.arange(x.shape[0] + 1))  # rows is sorted
    for r in range(x.shape[0]):
        sel = slice(bounds[r], bounds[r + 1])
        lo, hi = liked.indptr[r], liked.indptr[r + 1]
        if lo == hi or sel.start == sel.stop:
            continue
        mine = liked.indices[lo:hi]
        w = ease_b[np.ix_(mine, items[sel])]  # (liked, candidates)
        link_max[sel] = w.max(axis=0)
        share[sel] = (w > 0).mean(axis=0)
        vals = x[r, mine].toarray().ravel()
        scored = vals >= 1
        fav = np.ones(len(mine), dtype=bool)
        if scored.any():
            fav = vals >= np.percentile(vals[scored], 90)
        link_fav[sel] = w[fav].max(axis=0)
    return {"ease_link_max": link_max, "ease_link_fav": link_fav, "ease_link_share": share}


def _als_from_arrays(path: Path, config: dict):
    """An ``implicit`` CPU ALS model holding saved factors (no pickle)."""
    from implicit.cpu.als import AlternatingLeastSquares

    with np.load(path, allow_pickle=False) as f:
        model = AlternatingLeastSquares(
            factors=config["factors"],
            iterations=config["iterations"],
            regularization=config["regularization"],
            alpha=config["alpha"],
            random_state=config["random_state"],
        )
        model.user_factors = f["user_factors"]
        model.item_factors = f["item_factors"]
    return model


def _group_of(feature: str, groups: Sequence[str]) -> str:
    """Which contribution group a feature belongs to (its name's prefix)."""
    for g in sorted(groups, key=len, reverse=True):
        if feature.startswith(g):
            return g
    return "user"
