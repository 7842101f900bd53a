"""Reads for labeling: the queue, a member's progress, runs and stored taste scores.

Nothing here trains or loads a model: the queue reads the P(like) array stored per model
version (:class:`TasteScores`), so a request costs a few small queries and numpy work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, F, Max, Prefetch, Q, QuerySet

from accounts.models import ListEntry, Profile
from catalog.models import Anime, Genre

from .models import Label, TasteScores, TasteTrainingRun

Answer = Label.Answer
Status = TasteTrainingRun.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)
NEED_BOTH = (
    "need at least one title you would like and one you wouldn't: "
    "label a few more titles (or rate some on your list)"
)

COLD_START = "cold_start"


def profile_for(*, user) -> Profile:
    """The member's saved profile, or an unsaved one with the defaults (reads never write)."""
    return Profile.objects.filter(user=user).first() or Profile(user=user)


def label_get(*, user, label_id: int) -> Label | None:
    return Label.objects.filter(user=user, pk=label_id).select_related("anime").first()


def label_list(*, user) -> QuerySet[Label]:
    return Label.objects.filter(user=user).select_related("anime")


def taste_training_examples(*, user) -> tuple[np.ndarray, np.ndarray, int]:
    """``(mal_ids int64, y int8 with 1 = like, n_from_list)`` for one member.

    Queue answers always count; list scores count when the member allows it
    (score >= TASTE_LIST_LIKE_MIN is a like, <= TASTE_LIST_DISLIKE_MAX a dislike). An
    explicit answer in the queue wins over the list for the same title.
    """
    answers = dict(
        Label.objects.filter(user=user, answer__in=[Answer.LIKE, Answer.DISLIKE]).values_list(
            "anime_id", "answer"
        )
    )
    y = {mal_id: int(answer == Answer.LIKE) for mal_id, answer in answers.items()}
    from_list = 0
    if profile_for(user=user).labels_from_list:
        scored = ListEntry.objects.filter(user=user, score__isnull=False).values_list(
            "anime_id", "score"
        )
        for mal_id, score in scored:
            if mal_id in y:
                continue
            if score >= settings.TASTE_LIST_LIKE_MIN:
                y[mal_id] = 1
            elif score <= settings.TASTE_LIST_DISLIKE_MAX:
                y[mal_id] = 0
            else:
                continue
            from_list += 1
    ids = np.fromiter(y.keys(), dtype=np.int64, count=len(y))
    return ids, np.fromiter(y.values(), dtype=np.int8, count=len(y)), from_list


def taste_example_counts(*, user) -> tuple[int, int]:
    """(likes, dislikes) the next training would use."""
    _, y, _ = taste_training_examples(user=user)
    return int(y.sum()), int(len(y) - y.sum())


def taste_scores_get(*, user) -> tuple[np.ndarray, np.ndarray, str] | None:
    """``(mal_ids int64, p_like float32, model version)`` of the member's current model."""
    row = TasteScores.objects.filter(user=user).first()
    if row is None:
        return None
    return row.mal_id_array(), row.proba_array(), row.version


def taste_ask_order_get(*, user) -> np.ndarray:
    """MAL ids (int64) the current model asks about next, in order (empty: none stored)."""
    row = TasteScores.objects.filter(user=user).only("ask_order").first()
    return row.ask_order_array() if row is not None else np.empty(0, dtype=np.int64)


def taste_ask_pool(*, user, size: int) -> np.ndarray:
    """MAL ids of the ``size`` most popular titles the queue may ask ``user`` about (not
    labeled, listed or hidden; adult titles per their setting): the candidates the next
    questions are chosen among after a training run."""
    blocked, _ = taste_blocked_ids(user=user)
    qs = Anime.objects.order_by(F("popularity").asc(nulls_last=True), "mal_id")
    if not profile_for(user=user).show_adult:
        qs = qs.filter(is_adult=False)
    ids = np.fromiter(qs.values_list("mal_id", flat=True)[: size + len(blocked)], dtype=np.int64)
    return ids[~np.isin(ids, blocked)][:size]


def taste_run_list(*, user) -> QuerySet[TasteTrainingRun]:
    return TasteTrainingRun.objects.filter(user=user)


def taste_run_latest_done(*, user) -> TasteTrainingRun | None:
    return TasteTrainingRun.objects.filter(user=user, status=Status.DONE).first()


def labels_since_last_run(*, user) -> int:
    """Like/dislike answers given after the newest training request (any outcome)."""
    last = (
        TasteTrainingRun.objects.filter(user=user)
        .exclude(status=Status.SUPERSEDED)
        .aggregate(m=Max("last_label_id"))["m"]
    )
    return Label.objects.filter(
        user=user, answer__in=[Answer.LIKE, Answer.DISLIKE], pk__gt=last or 0
    ).count()


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
    active = TasteTrainingRun.objects.filter(user=user, status__in=ACTIVE).first()
    every = settings.TASTE_RETRAIN_EVERY
    return LabelingProgress(
        likes=counts["likes"],
        dislikes=counts["dislikes"],
        skips=counts["skips"],
        labels_until_retrain=max(0, every - labels_since_last_run(user=user)),
        model_average_precision=done.average_precision if done else None,
        model_version=done.version if done else "",
        model_labels=done.n_labels if done else 0,
        training_status=active.status if active else "",
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


def taste_blocked_ids(*, user) -> tuple[np.ndarray, int]:
    """Titles never to ask about again (labeled, skips too; on the list, or marked not
    interested), and how many labels the member has given."""
    labeled = list(Label.objects.filter(user=user).order_by().values_list("anime_id", flat=True))
    listed = ListEntry.objects.filter(user=user).order_by().values_list("anime_id", flat=True)
    return np.fromiter({*labeled, *listed}, dtype=np.int64), len(labeled)


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
    from recommender.ml.active_learning import exploration_count, queue_orders

    from .catalog_features import cold_start_mal_ids

    show_adult = profile_for(user=user).show_adult
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
