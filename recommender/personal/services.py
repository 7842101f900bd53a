"""Each member's stored recommendations: computed in the background, read by page and API.

A refresh reads the member's list and labels (``selectors.personal_inputs``), ranks the
catalog with every served engine and the member's taste model, makes each
ranking franchise-aware (:func:`catalog.franchises.franchise_collapse`), writes the
reasons as data, and replaces the member's :class:`UserRecommendation` rows in one
transaction. List changes, labels, imports, taste-model runs and engine retrains ask for
a refresh with :func:`recommendations_refresh_request`; the request is debounced on the
member's :class:`RecommendationRefresh` row and the task claims that row with one
conditional UPDATE, so a redelivered task runs once.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from accounts.models import ListEntry
from animender.runs import Claim, RunKind, run_claim, run_update, runs_reap
from animender.score_rules import preference_rule
from catalog.franchises import franchise_collapse, franchise_index
from catalog.models import Anime
from catalog.selectors import anime_visible
from labeling.models import Label
from recommender.engines.selectors import (
    NoModelError,
    RetrainPendingError,
    all_scores,
    list_row,
    model_load,
    model_unshown_rows,
    signed_watch_scores,
)
from recommender.ml import explain
from recommender.ml.hybrid import COMPONENT_EVIDENCE
from recommender.ml.preferences import UNSCORED
from recommender.ml.registry import ENGINES, score_predictor
from recommender.models import RecommendationRefresh, UserRecommendation
from recommender.personal import reasons as R
from recommender.personal.selectors import (
    DISCOVER,
    ENGINE_TASTE,
    PLAN,
    PersonalInputs,
    personal_inputs,
    taste_liked_features,
)

log = logging.getLogger(__name__)

State = RecommendationRefresh.State
# Taste-model P(like) above which a card also says "matches your taste for ...".
TASTE_REASON_MIN = 0.6
# Liked titles a watch-list model is asked about one by one when no item-KNN model can
# name the neighbours (one batched forward pass).
LIFT_LIKED_MAX = 40
PLAN_MAX = 300
# A hybrid explains (SHAP) only the titles it returns: this many times the stored cards,
# so franchises collapsing and excluded titles still leave enough.
EXPLAINED_DEPTH = 4
SPARE_CARDS = 20


# -- scoring ---------------------------------------------------------------------------


@dataclass
class EngineRanking:
    """One engine's view of one member: dense scores over the engine's item space."""

    engine: str
    version: str
    scores: np.ndarray  # (n_items,) float64, NaN where not rankable
    item_ids: np.ndarray  # (n_items,) mal ids
    fallback: bool  # no usable input: the engine's popularity-like default order
    model: object = None
    index_of: dict = field(default_factory=dict)
    # A hybrid's explanation of its picks: item index -> the components that lifted it
    # most, and mal_id -> the member's own titles that point to it most.
    components: dict = field(default_factory=dict)
    because: dict = field(default_factory=dict)


def _scored_row(n_items: int, index_of: dict, inputs: PersonalInputs) -> sp.csr_matrix:
    """The "scored" matrix kind: 1-10 where scored, -1 for watched without a score; an
    unscored drop counts as a dislike (as a dislike label does)."""
    dislike = float(preference_rule().dislike_max)
    values = {index_of[m]: float(s) for m, s in inputs.scores.items() if m in index_of}
    for m in inputs.positives | inputs.negatives:
        if m in index_of and index_of[m] not in values:
            values[index_of[m]] = float(UNSCORED) if m in inputs.positives else dislike
    return list_row(n_items, list(values), list(values.values()))


def _explained_scores(
    loaded, row: sp.csr_matrix, depth: int, exclude: np.ndarray
) -> tuple[np.ndarray, dict, dict]:
    """A hybrid's top ``depth`` with, per pick, its strongest components and the member's
    titles that point to it (``recommend_detailed``: contributions split by group).
    ``exclude``: item indices left out inside the ranking (titles the catalog does not
    show), so they take none of the ``depth``."""
    n_items = len(loaded.item_ids)
    top = loaded.model.recommend_detailed(row, n=min(depth, n_items), exclude=exclude)
    idx, sc = top.indices[0], top.scores[0]
    ok = (idx >= 0) & np.isfinite(sc)
    scores = np.full(n_items, np.nan)
    scores[idx[ok]] = sc[ok]
    # "user" holds what is known about the member (list length, mean score): not a reason.
    contrib = {g: top.contributions[0, :, k] for k, g in enumerate(top.groups) if g != "user"}
    components, because = {}, {}
    for pos in np.flatnonzero(ok):
        item = int(idx[pos])
        components[item] = explain.strongest_components(contrib, int(pos))
        pointing = [int(loaded.item_ids[j]) for j in top.because[0, pos] if j >= 0]
        if pointing:
            because[int(loaded.item_ids[item])] = pointing
    return scores, components, because


def _engine_ranking(engine: str, inputs: PersonalInputs) -> EngineRanking | None:
    """None when the engine has no version; raises when its version cannot rank this
    member (the caller keeps the other engines' cards)."""
    try:
        loaded = model_load(engine=engine)
    except RetrainPendingError:
        raise  # trained, but its version cannot serve: the refresh names it
    except NoModelError:
        return None
    unshown = model_unshown_rows(loaded, show_adult=inputs.show_adult)
    spec = ENGINES[engine]
    n_items, index_of = len(loaded.item_ids), loaded.index_of
    components, because = {}, {}
    if spec.matrix == "explicit":
        pairs = [(index_of[m], float(s)) for m, s in inputs.scores.items() if m in index_of]
        row = list_row(n_items, [c for c, _ in pairs], [v for _, v in pairs])
        scores, fallback = all_scores(loaded.model, row), not pairs
    elif spec.matrix == "scored":
        row = _scored_row(n_items, index_of, inputs)
        fallback = row.nnz == 0
        if hasattr(loaded.model, "contribution_groups"):
            depth = EXPLAINED_DEPTH * settings.RECOMMENDATIONS_STORED_PER_ENGINE
            scores, components, because = _explained_scores(loaded, row, depth, unshown)
        else:
            scores = all_scores(loaded.model, row)
    else:
        liked = [index_of[m] for m in inputs.positives if m in index_of]
        disliked = [index_of[m] for m in inputs.negatives if m in index_of]
        scores = signed_watch_scores(loaded.model, n_items, liked, disliked)
        scores[disliked] = np.nan
        fallback = not liked
    return EngineRanking(
        engine,
        loaded.version,
        scores,
        loaded.item_ids,
        fallback,
        loaded.model,
        index_of,
        components,
        because,
    )


def _taste_ranking(user) -> EngineRanking | None:
    from labeling.taste.selectors import taste_scores_get

    stored = taste_scores_get(user=user)
    if stored is None:
        return None
    ids, proba, version = stored
    return EngineRanking(
        ENGINE_TASTE,
        version,
        proba.astype(np.float64),
        ids,
        False,
        index_of={int(m): i for i, m in enumerate(ids)},
    )


def _ranked(r: EngineRanking, inputs: PersonalInputs, visible: set[int]):
    """``(mal_id, score)`` best first: only titles the catalog shows this member, none
    excluded, no NaN (a model may know titles the catalog no longer holds)."""
    finite = np.flatnonzero(np.isfinite(r.scores))
    order = finite[np.argsort(-r.scores[finite], kind="stable")]
    for i in order:
        m = int(r.item_ids[i])
        if m in visible and m not in inputs.excluded:
            yield m, float(r.scores[i])


# -- reasons ---------------------------------------------------------------------------


@dataclass
class ReasonSources:
    """What the reasons of one refresh are built from (each may be missing)."""

    neighbours: sp.csr_matrix | None = None  # item-KNN neighbour lists
    neighbour_index: dict = field(default_factory=dict)  # mal_id -> row in neighbours
    neighbour_ids: np.ndarray | None = None
    lift: tuple | None = None  # (dense (k, n_items) lift, liked rows, index_of, item_ids)
    taste: dict = field(default_factory=dict)  # mal_id -> P(like)
    taste_features: list[str] = field(default_factory=list)
    title_features: dict = field(default_factory=dict)  # mal_id -> {"genre:X", ...}
    predicted: dict = field(default_factory=dict)  # mal_id -> item-KNN estimate
    titles: dict = field(default_factory=dict)  # mal_id -> title (liked titles)


def _reason_sources(
    rankings: dict[str, EngineRanking], inputs: PersonalInputs, taste_features: list[str]
) -> ReasonSources:
    src = ReasonSources(taste_features=taste_features)
    liked = inputs.liked_weights
    knn = rankings.get(score_predictor())
    if knn is not None and hasattr(knn.model, "neighbours_"):
        src.neighbours, src.neighbour_index = knn.model.neighbours_, knn.index_of
        src.neighbour_ids = knn.item_ids
        if not knn.fallback:
            finite = np.isfinite(knn.scores)
            lo, hi = knn.model.rating_scale
            src.predicted = {
                int(knn.item_ids[i]): float(np.clip(knn.scores[i], lo, hi))
                for i in np.flatnonzero(finite)
            }
    else:
        nn = next((r for r in rankings.values() if hasattr(r.model, "score")), None)
        if nn is not None and liked:
            top = sorted(liked, key=lambda m: -liked[m])[:LIFT_LIKED_MAX]
            rows = [nn.index_of[m] for m in top if m in nn.index_of]
            if rows:
                n_items = len(nn.item_ids)
                one_hot = sp.csr_matrix(
                    (np.ones(len(rows), dtype=np.float32), (np.arange(len(rows)), rows)),
                    shape=(len(rows), n_items),
                )
                empty = sp.csr_matrix((1, n_items), dtype=np.float32)
                lift = np.asarray(nn.model.score(one_hot)) - np.asarray(nn.model.score(empty))
                src.lift = (lift, rows, nn.index_of, nn.item_ids)
    taste = rankings.get(ENGINE_TASTE)
    if taste is not None:
        src.taste = {int(m): float(p) for m, p in zip(taste.item_ids, taste.scores, strict=True)}
    named = set(liked) | {m for r in rankings.values() for ms in r.because.values() for m in ms}
    src.titles = dict(Anime.objects.filter(mal_id__in=named).values_list("mal_id", "title"))
    return src


def _liked_titles(src: ReasonSources, inputs: PersonalInputs, mal_ids: list[int]) -> dict:
    """mal_id -> [liked mal_id, ...] (up to two) that each title is closest to."""
    liked = inputs.liked_weights
    if not liked or not mal_ids:
        return {}
    if src.neighbours is not None:
        idx = src.neighbour_index
        known = [m for m in mal_ids if m in idx]
        liked_known = [m for m in liked if m in idx]
        if not known or not liked_known:
            return {}
        found = explain.liked_neighbours(
            src.neighbours,
            np.array([idx[m] for m in known]),
            np.array([idx[m] for m in liked_known]),
            np.array([liked[m] for m in liked_known]),
        )
        ids = src.neighbour_ids
    elif src.lift is not None:
        lift, rows, idx, ids = src.lift
        known = [m for m in mal_ids if m in idx]
        if not known:
            return {}
        found = explain.liked_lifts(
            lift,
            np.array([idx[m] for m in known]),
            np.array(rows),
            np.array([liked.get(int(ids[r]), 0.0) for r in rows]),
        )
    else:
        return {}
    return {m: [int(ids[j]) for j, _ in pairs] for m, pairs in zip(known, found, strict=True)}


def _card_reasons(
    *,
    engine: str,
    mal_id: int,
    liked_ids: list[int],
    components: list[str] | None,
    fallback: bool,
    src: ReasonSources,
) -> list[dict]:
    """Reasons of one card, strongest first; ``liked_ids``: the member's titles behind it."""
    liked = {
        "kind": R.LIKED,
        "titles": [{"mal_id": m, "title": src.titles[m]} for m in liked_ids if m in src.titles],
    }
    features = R.taste_features_of(src.title_features.get(mal_id, set()), src.taste_features)
    taste = {"kind": R.TASTE, "features": features}
    if components:
        # A hybrid said which parts lifted the title: their kinds, in that order (the
        # taste model joins a hybrid as a side scorer under its own name).
        kinds = []
        for name in components:
            evidence = "taste" if name == ENGINE_TASTE else COMPONENT_EVIDENCE.get(name)
            if evidence == "taste":
                kinds.append(taste)
            elif evidence == "neighbours":
                kinds.append(liked)
            elif evidence == "popularity":
                kinds.append({"kind": R.POPULAR})
            else:
                kinds.append({"kind": R.COMMUNITY})
        out = kinds
    elif fallback:
        out = [{"kind": R.POPULAR}]
    elif engine == ENGINE_TASTE:
        out = [taste, liked]
    else:
        # Item-KNN and watch-list picks: the liked titles behind it when the neighbour
        # lists name some, else what the engine is: people with lists like this one.
        out = [liked, {"kind": R.COMMUNITY}]
    if engine != ENGINE_TASTE and src.taste.get(mal_id, 0.0) >= TASTE_REASON_MIN:
        out.append(taste)
    seen, kept = set(), []
    for reason in out:
        text = R.reason_text(reason)
        if text and text not in seen:
            seen.add(text)
            kept.append(reason)
    return kept[:2]


# -- one refresh ------------------------------------------------------------------------


class RefreshFailed(RuntimeError):
    """Every engine that could rank the member failed."""


@dataclass
class RefreshResult:
    # engine -> {"version", "discover", "plan"}; an engine that failed -> {"error"}.
    engines: dict = field(default_factory=dict)
    rows: int = 0


def _title_features(mal_ids: set[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {m: set() for m in mal_ids}
    for m, g in Anime.genres.through.objects.filter(anime_id__in=mal_ids).values_list(
        "anime_id", "genre__name"
    ):
        out[m].update((f"genre:{g}", f"theme:{g}", f"demographic:{g}"))
    for m, s in Anime.studios.through.objects.filter(anime_id__in=mal_ids).values_list(
        "anime_id", "studio__name"
    ):
        out[m].add(f"studio:{s}")
    return out


def user_recommendations_compute(*, user, heartbeat=lambda: None) -> RefreshResult:
    """Rank the catalog for ``user`` with every served engine and their taste model, and
    replace their stored cards. Loads models: call it from the task, never a request."""
    inputs = personal_inputs(user=user)
    index = franchise_index(show_adult=inputs.show_adult)
    per_engine = settings.RECOMMENDATIONS_STORED_PER_ENGINE
    rankings: dict[str, EngineRanking] = {}
    failed: dict[str, str] = {}

    def attempt(name: str, rank) -> None:
        # One engine failing (a broken artifact, a version that cannot serve this
        # catalog) must not cost the member every other engine's cards.
        try:
            ranking = rank()
        except SoftTimeLimitExceeded:
            raise  # the task's time is up: the whole refresh fails, not this engine
        except Exception as exc:
            log.error(
                "%s failed in the refresh of member %s:\n%s", name, user.pk, traceback.format_exc()
            )
            failed[name] = f"{type(exc).__name__}: {exc}"
            return
        if ranking is not None:
            rankings[name] = ranking

    if not inputs.empty:
        for engine in ENGINES:
            attempt(engine, lambda engine=engine: _engine_ranking(engine, inputs))
            heartbeat()
    attempt(ENGINE_TASTE, lambda: _taste_ranking(user))
    if failed and not rankings:
        # Nothing to show instead: the refresh fails and the stored cards stay.
        raise RefreshFailed("; ".join(f"{name}: {error}" for name, error in failed.items()))
    visible = anime_visible(show_adult=inputs.show_adult)
    visible_ids = set(visible.values_list("mal_id", flat=True))
    cards_of = {}
    for name, r in rankings.items():
        cards = franchise_collapse(
            _ranked(r, inputs, visible_ids),
            watched=inputs.seen,
            index=index,
            exclude=inputs.excluded - inputs.seen,
            limit=per_engine + SPARE_CARDS,
        )
        # The index is cached for minutes: an entry point hidden since is left out here.
        cards_of[name] = [c for c in cards if c.mal_id in visible_ids][:per_engine]
    shown = {c.mal_id for cards in cards_of.values() for c in cards} | set(inputs.plan)
    explained = {c.candidates[0] for cards in cards_of.values() for c in cards}
    src = _reason_sources(rankings, inputs, taste_liked_features(user=user))
    src.title_features = _title_features(shown)
    liked_of = _liked_titles(src, inputs, sorted(shown | explained))
    rows: list[UserRecommendation] = []
    result = RefreshResult()
    for name, r in rankings.items():
        cards = cards_of[name]
        for rank, card in enumerate(cards, start=1):
            # The title the engine ranked explains the card (a sequel when the card shows
            # where its franchise starts).
            ranked = card.candidates[0]
            rows.append(
                UserRecommendation(
                    user=user,
                    engine=name,
                    section=DISCOVER,
                    rank=rank,
                    anime_id=card.mal_id,
                    score=card.score,
                    predicted_score=src.predicted.get(card.mal_id),
                    match=src.taste.get(card.mal_id),
                    franchise_size=card.franchise_size,
                    entry_point=card.replaced,
                    reasons=_card_reasons(
                        engine=name,
                        mal_id=card.mal_id,
                        liked_ids=_liked_ids(
                            r, liked_of, ranked, card.mal_id, inputs.liked_weights
                        ),
                        components=r.components.get(r.index_of.get(ranked, -1)),
                        fallback=r.fallback,
                        src=src,
                    ),
                )
            )
        plan = _plan_rows(user, name, r, inputs, liked_of, src)
        rows += plan
        result.engines[name] = {"version": r.version, DISCOVER: len(cards), PLAN: len(plan)}
    with transaction.atomic():
        stored = UserRecommendation.objects.filter(user=user)
        stored.exclude(engine__in=failed).delete()
        # An engine that failed this time keeps its previous cards until it ranks again,
        # less the titles the member has acted on since (their tab would otherwise go
        # empty, or show what they just rated).
        stored.filter(engine__in=failed, anime_id__in=inputs.excluded | inputs.seen).delete()
        UserRecommendation.objects.bulk_create(rows, batch_size=1000)
    kept = dict(
        stored.filter(engine__in=failed, section=DISCOVER)
        .values_list("engine")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for name, error in failed.items():
        result.engines[name] = {"error": error, "kept": kept.get(name, 0)}
    result.rows = len(rows)
    return result


def _liked_ids(r: EngineRanking, liked_of: dict, ranked: int, shown: int, liked: dict) -> list[int]:
    """The member's titles behind a pick: the engine's own answer (a hybrid's), else the
    item neighbours of what it ranked, else of what the card shows. Only titles in
    ``liked`` (what the member likes by the preference rule) are ever named."""
    for found in (r.because.get(ranked), liked_of.get(ranked), liked_of.get(shown)):
        named = [m for m in found or () if m in liked]
        if named:
            return named
    return []


def _plan_rows(user, name, r: EngineRanking, inputs, liked_of, src) -> list[UserRecommendation]:
    """The member's plan-to-watch titles in the engine's order: what to watch next. Titles
    the engine did not rank (a hybrid ranks its candidates only) follow, in list order."""
    ranked, unranked = [], []
    for m in inputs.plan:
        i = r.index_of.get(m)
        if i is not None and np.isfinite(r.scores[i]):
            ranked.append((m, float(r.scores[i])))
        else:
            unranked.append((m, None))
    ranked.sort(key=lambda p: -p[1])
    return [
        UserRecommendation(
            user=user,
            engine=name,
            section=PLAN,
            rank=rank,
            anime_id=m,
            score=s,
            predicted_score=src.predicted.get(m),
            match=src.taste.get(m),
            reasons=_card_reasons(
                engine=name,
                mal_id=m,
                liked_ids=_liked_ids(r, liked_of, m, m, inputs.liked_weights),
                components=r.components.get(r.index_of.get(m, -1)),
                fallback=r.fallback,
                src=src,
            ),
        )
        for rank, (m, s) in enumerate((ranked + unranked)[:PLAN_MAX], start=1)
    ]


# -- the refresh state machine ----------------------------------------------------------


def _enqueue(user_id: int) -> None:
    from recommender.personal.tasks import refresh_user_recommendations_task

    delay = settings.RECOMMENDATIONS_REFRESH_DELAY_SECONDS
    transaction.on_commit(
        lambda: refresh_user_recommendations_task.apply_async((user_id,), countdown=delay)
    )


def recommendations_refresh_request(*, user_id: int, trigger: str) -> bool:
    """Ask for a background refresh of one member's cards; True when a task was queued.

    Debounced: while one is queued nothing more is queued (it reads the latest list when it
    starts); while one runs, it is told to run once more when it finishes. A running
    refresh whose worker died is the reaper's (``recommender.reap_stale_refreshes``).
    """
    if _refresh_mark_queued(user_id=user_id, trigger=trigger):
        _enqueue(user_id)
        return True
    return False


def _refresh_mark_queued(*, user_id: int, trigger: str) -> bool:
    """The debounce of a request: True when the member's row went to queued (the caller
    sends the message that runs it); otherwise a queued one exists or a running one is told
    to run once more."""
    RecommendationRefresh.objects.get_or_create(user_id=user_id)
    queued = RecommendationRefresh.objects.filter(
        user_id=user_id, state__in=[State.IDLE, State.DONE, State.FAILED]
    ).update(**_new_request(trigger))
    if queued:
        return True
    RecommendationRefresh.objects.filter(user_id=user_id, state=State.RUNNING).update(rerun=True)
    return False


def _new_request(trigger: str) -> dict:
    """The fields of a row a new request queues: its attempts count afresh, the last error
    goes, and it counts as queued from now (heartbeat_at cleared: the reaper resends a
    queued row only when neither was stamped for a stale period)."""
    return {
        "state": State.QUEUED,
        "rerun": False,
        "trigger": trigger[:20],
        "requested_at": timezone.now(),
        "attempts": 0,
        "error": "",
        "heartbeat_at": None,
    }


def recommendations_refresh_after_publish(*, engine: str) -> None:
    """A new version of ``engine`` ranks differently: every member's cards refresh (queued as
    one task, which queues batches of the debounced per-member refreshes)."""
    from recommender.personal.tasks import refresh_all_user_recommendations_task

    refresh_all_user_recommendations_task.delay("retrain")


def _enqueue_batch(user_ids: list[int]) -> None:
    from recommender.personal.tasks import refresh_user_recommendations_batch_task

    # No countdown: workers prefetch delayed (ETA) messages without limit, so one delayed
    # message per member after a retrain would pile every member into worker memory.
    transaction.on_commit(lambda: refresh_user_recommendations_batch_task.delay(user_ids))


def recommendations_refresh_all(*, trigger: str) -> int:
    """Ask for a refresh of every member with a list or labels (after an engine retrain),
    sent as one batch task per RECOMMENDATIONS_REFRESH_BATCH_SIZE members. The debounce is
    each member's: one already queued (a list edit) or running is not put in a batch.
    Returns how many were queued."""
    user_ids = sorted(
        set(ListEntry.objects.values_list("user_id", flat=True).distinct())
        | set(Label.objects.values_list("user_id", flat=True).distinct())
    )
    size = max(1, settings.RECOMMENDATIONS_REFRESH_BATCH_SIZE)
    queued = 0
    for i in range(0, len(user_ids), size):
        batch = [
            u for u in user_ids[i : i + size] if _refresh_mark_queued(user_id=u, trigger=trigger)
        ]
        if batch:
            _enqueue_batch(batch)
            queued += len(batch)
    return queued


def recommendations_refresh_batch_execute(*, user_ids: list[int]) -> int:
    """The batch task's work: each member's queued refresh in turn (a member claimed
    elsewhere meanwhile is skipped by the claim). Past RECOMMENDATIONS_REFRESH_BATCH_SECONDS
    the rest go to a new batch, so a slow batch never meets its time limit with members
    left queued and no message to run them. Returns how many refreshes ran here."""
    deadline = time.monotonic() + settings.RECOMMENDATIONS_REFRESH_BATCH_SECONDS
    ran = 0
    for n, user_id in enumerate(user_ids):
        if n and time.monotonic() > deadline:
            _enqueue_batch(list(user_ids[n:]))
            break
        if recommendations_refresh_execute(user_id=user_id) != "not claimed":
            ran += 1
    return ran


def _finish(claim: Claim, state: str, **fields) -> bool:
    """Close the claimed refresh; when a request came in meanwhile, queue the next one.
    Returns True when it queued one. Writes only while ``claim`` owns the row: a refresh
    the reaper took back (queued again, or failed) leaves the newer state alone."""
    mine = claim.owned()
    now = timezone.now()
    if mine.filter(rerun=False).update(state=state, finished_at=now, **fields):
        return False
    row = mine.values_list("user_id", "trigger").first()
    # The run's own fields win: a failed run's error stays readable while the next one waits.
    if row is not None and mine.update(
        **{**_new_request(row[1] or ""), "finished_at": now, **fields}
    ):
        _enqueue(row[0])
        return True
    log.warning("refresh of %s: reaped while it ran; its result is dropped", claim.pk)
    return False  # reaped meanwhile: the reaper (or a newer claim) owns the row


def _send(pk: int) -> None:
    from recommender.personal.tasks import refresh_user_recommendations_task

    user_id = RecommendationRefresh.objects.filter(pk=pk).values_list("user_id", flat=True).first()
    if user_id is not None:
        refresh_user_recommendations_task.delay(user_id)


def _after_failed(row: RecommendationRefresh) -> None:
    # A request came in while the lost refresh ran: it deserves its own attempts.
    if row.rerun:
        recommendations_refresh_request(user_id=row.user_id, trigger=row.trigger or "rerun")


REFRESHES = RunKind(
    name="refresh",
    model=RecommendationRefresh,
    send=_send,
    queued_since="requested_at",
    on_failed=_after_failed,
)


def recommendations_refresh_reap() -> dict[str, list[int]]:
    """One reaper pass (beat): refreshes whose worker died are queued again, or failed
    after RUN_MAX_ATTEMPTS; queued ones whose message was lost are sent again. Returns the
    primary keys of the rows acted on."""
    return asdict(runs_reap(REFRESHES))


def recommendations_refresh_execute(*, user_id: int) -> str:
    """The task's work: claim the member's queued refresh, compute, store, close.

    Returns the final state, or "not claimed" when nothing was queued (a redelivered or
    duplicate message, or a member deleted since).
    """
    from django.contrib.auth import get_user_model

    pk = RecommendationRefresh.objects.filter(user_id=user_id).values_list("pk", flat=True).first()
    claim = run_claim(RecommendationRefresh, pk, rerun=False) if pk is not None else None
    user = get_user_model().objects.filter(pk=user_id).first()
    if claim is None or user is None:
        return "not claimed"

    def heartbeat() -> None:
        run_update(claim, heartbeat_at=timezone.now())

    clock = time.perf_counter()
    try:
        result = user_recommendations_compute(user=user, heartbeat=heartbeat)
    except Exception as exc:
        log.error("recommendation refresh of %s failed:\n%s", user_id, traceback.format_exc())
        _finish(claim, State.FAILED, error=f"{type(exc).__name__}: {exc}")
        return State.FAILED
    # Done, with the cards of the engines that worked; the row names any that failed.
    failures = [f"{name}: {e['error']}" for name, e in result.engines.items() if "error" in e]
    _finish(
        claim,
        State.DONE,
        engines=result.engines,
        error="; ".join(failures),
        seconds=round(time.perf_counter() - clock, 3),
        runs=F("runs") + 1,
    )
    return State.DONE
