"""Reads for labeling: the queue and a member's progress.

Nothing here trains or loads a model: the queue reads the P(like) array stored per model
version (:class:`TasteScores`), so a request costs a few small queries and numpy work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet

from animender.runs import ACTIVE_STATES
from catalog.models import Anime, Genre
from catalog.selectors import adult_visible
from labeling.models import Label, TasteScores, TasteTrainingRun
from labeling.taste.selectors import (
    labels_since_last_run,
    taste_blocked_ids,
    taste_run_latest_done,
)

Answer = Label.Answer
State = TasteTrainingRun.State

COLD_START = "cold_start"


def label_get(*, user, label_id: int) -> Label | None:
    return Label.objects.filter(user=user, pk=label_id).select_related("anime").first()


def label_list(*, user) -> QuerySet[Label]:
    return Label.objects.filter(user=user).select_related("anime")


@dataclass
class LabelingProgress:
    likes: int
    dislikes: int
    skips: int
    labels_until_retrain: int
    model_average_precision: float | None
    model_version: str
    model_labels: int
    training_status: str  # "", "queued" or "running"

    @property
    def labels_given(self) -> int:
        return self.likes + self.dislikes

    @property
    def retrain_progress_percent(self) -> int:
        every = settings.TASTE_RETRAIN_EVERY
        return round(100 * (every - self.labels_until_retrain) / every) if every else 100


def labeling_progress(*, user) -> LabelingProgress:
    counts = Label.objects.filter(user=user).aggregate(
        likes=Count("pk", filter=Q(answer=Answer.LIKE)),
        dislikes=Count("pk", filter=Q(answer=Answer.DISLIKE)),
        skips=Count("pk", filter=Q(answer=Answer.SKIP)),
    )
    done = taste_run_latest_done(user=user)
    active = TasteTrainingRun.objects.filter(user=user, state__in=ACTIVE_STATES).first()
    every = settings.TASTE_RETRAIN_EVERY
    return LabelingProgress(
        likes=counts["likes"],
        dislikes=counts["dislikes"],
        skips=counts["skips"],
        labels_until_retrain=max(0, every - labels_since_last_run(user=user)),
        model_average_precision=done.average_precision if done else None,
        model_version=done.version if done else "",
        model_labels=done.n_labels if done else 0,
        training_status=active.state if active else "",
    )


@dataclass
class QueueItem:
    anime: Anime
    reason: str  # cold_start, uncertainty, exploration, ...
    p_like: float | None


@dataclass
class LabelQueue:
    strategy: str  # cold_start or uncertainty
    model_version: str
    items: list[QueueItem]


def _visible_anime(ids: list[int], *, show_adult: bool) -> dict[int, Anime]:
    qs = Anime.objects.prefetch_related(
        Prefetch("genres", queryset=Genre.objects.only("id", "name"))
    )
    if not show_adult:
        qs = qs.filter(is_adult=False)
    return qs.in_bulk(ids)


# Titles fetched beyond the page: hidden (adult) or deleted titles are dropped after the
# pick, which is cheaper than loading every adult id to mask them first.
MARGIN = 10


def _visible_in_order(rows, ids, n: int, reason: str, proba=None, *, show_adult: bool):
    """The first ``n`` visible titles of ``rows`` (positions into ``ids``, in order) as
    queue items; titles are loaded a page (plus a margin) at a time."""
    items: list[QueueItem] = []
    start = 0
    while len(items) < n and start < len(rows):
        batch = rows[start : start + n - len(items) + MARGIN]
        start += len(batch)
        anime = _visible_anime([int(ids[r]) for r in batch], show_adult=show_adult)
        items += [
            QueueItem(anime[int(ids[r])], reason, None if proba is None else float(proba[r]))
            for r in batch
            if int(ids[r]) in anime
        ]
    return items[:n]


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in ``ids`` of each of ``wanted`` (in its order), dropping absent ones."""
    if not len(wanted) or not len(ids):
        return np.empty(0, dtype=np.int64)
    sorter = np.argsort(ids, kind="stable")
    at = np.minimum(np.searchsorted(ids, wanted, sorter=sorter), len(ids) - 1)
    pos = sorter[at]
    return pos[ids[pos] == wanted]


def label_queue_for_user(*, user, limit: int = 10) -> LabelQueue:
    """The next ``limit`` titles to ask ``user`` about, each with the reason it was chosen.

    No model yet: the cold-start order (popular titles spread across genres and years).
    With a model: the ask order stored when it was trained (the questions that most
    reduce its uncertainty, see ``variance_order``) minus what was answered since, then
    the titles whose P(like) is closest to 0.5; plus an exploration share of random
    titles. The random part is seeded by the member and their label count, so the page
    asks for the same titles again until a new answer arrives.
    """
    from labeling.taste.features import cold_start_mal_ids
    from recommender.ml.active_learning import exploration_count, queue_orders

    show_adult = adult_visible(user=user)
    blocked, n_labels = taste_blocked_ids(user=user)
    scores = TasteScores.objects.filter(user=user).first()  # P(like) and ask order: one read
    if scores is None:
        order = cold_start_mal_ids()
        order = order[~np.isin(order, blocked)]
        items = _visible_in_order(
            np.arange(len(order)), order, limit, COLD_START, show_adult=show_adult
        )
        return LabelQueue(COLD_START, "", items)
    ids, proba = scores.mal_id_array(), scores.proba_array().astype(np.float64)
    exploit, explore = queue_orders(
        proba,
        ~np.isin(ids, blocked),
        _positions(ids, scores.ask_order_array()),
        np.random.default_rng([user.pk, n_labels]),
    )
    n_explore = exploration_count(limit, settings.TASTE_EXPLORATION)
    items = _visible_in_order(
        exploit, ids, limit - n_explore, "uncertainty", proba, show_adult=show_adult
    )
    if n_explore:
        taken = [item.anime.mal_id for item in items]
        explore = explore[~np.isin(ids[explore], taken)]
        items += _visible_in_order(
            explore, ids, n_explore, "exploration", proba, show_adult=show_adult
        )
    return LabelQueue("uncertainty", scores.version, items)
