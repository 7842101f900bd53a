"""Reads of the taste model's inputs and outputs: a member's training examples, runs and the
P(like) scores stored per model version (:class:`TasteScores`)."""

from __future__ import annotations

import numpy as np
from django.db.models import F, Max, QuerySet

from accounts.models import ListEntry
from accounts.selectors import profile_get
from animender.score_rules import preference_rule
from catalog.models import Anime
from catalog.selectors import adult_visible
from labeling.models import Label, TasteScores, TasteTrainingRun

Answer = Label.Answer
State = TasteTrainingRun.State
NEED_BOTH = (
    "need at least one title you would like and one you wouldn't: "
    "label a few more titles (or rate some on your list)"
)


def taste_training_examples(*, user) -> tuple[np.ndarray, np.ndarray, int]:
    """``(mal_ids int64, y int8 with 1 = like, n_from_list)`` for one member.

    Queue answers always count; list scores count when the member allows it
    (a like or a dislike by :func:`animender.score_rules.preference_rule`). An
    explicit answer in the queue wins over the list for the same title.
    """
    answers = dict(
        Label.objects.filter(user=user, answer__in=[Answer.LIKE, Answer.DISLIKE]).values_list(
            "anime_id", "answer"
        )
    )
    y = {mal_id: int(answer == Answer.LIKE) for mal_id, answer in answers.items()}
    from_list = 0
    if profile_get(user=user).labels_from_list:
        rule = preference_rule()
        scored = ListEntry.objects.filter(user=user, score__isnull=False).values_list(
            "anime_id", "score"
        )
        for mal_id, score in scored:
            if mal_id in y:
                continue
            if rule.is_like(score):
                y[mal_id] = 1
            elif rule.is_dislike(score):
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
    if not adult_visible(user=user):
        qs = qs.filter(is_adult=False)
    ids = np.fromiter(qs.values_list("mal_id", flat=True)[: size + len(blocked)], dtype=np.int64)
    return ids[~np.isin(ids, blocked)][:size]


def taste_run_list(*, user) -> QuerySet[TasteTrainingRun]:
    return TasteTrainingRun.objects.filter(user=user)


def taste_run_latest_done(*, user) -> TasteTrainingRun | None:
    return TasteTrainingRun.objects.filter(user=user, state=State.DONE).first()


def labels_since_last_run(*, user) -> int:
    """Like/dislike answers given after the newest training request (any outcome)."""
    last = (
        TasteTrainingRun.objects.filter(user=user)
        .exclude(state=State.SUPERSEDED)
        .aggregate(m=Max("last_label_id"))["m"]
    )
    return Label.objects.filter(
        user=user, answer__in=[Answer.LIKE, Answer.DISLIKE], pk__gt=last or 0
    ).count()


def taste_blocked_ids(*, user) -> tuple[np.ndarray, int]:
    """Titles never to ask about again (labeled, skips too; on the list, or marked not
    interested), and how many labels the member has given."""
    labeled = list(Label.objects.filter(user=user).order_by().values_list("anime_id", flat=True))
    listed = ListEntry.objects.filter(user=user).order_by().values_list("anime_id", flat=True)
    return np.fromiter({*labeled, *listed}, dtype=np.int64), len(labeled)
