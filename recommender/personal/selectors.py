"""Reads of each member's recommendations: their inputs, and the stored cards pages show.

Everything here is scoped to one member and reads rows only; nothing loads a model. The
stored cards are filtered again on read against the member's current list and labels, so
a title acted on disappears at once, before the background refresh has run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from accounts.models import ListEntry
from animender.score_rules import preference_rule
from catalog.filters import AnimeSearchParams
from catalog.models import Anime
from catalog.selectors import adult_visible, anime_search
from labeling.models import Label
from recommender.ml.preferences import PreferenceRule
from recommender.ml.registry import ENGINES, engines_in_page_order
from recommender.models import RecommendationRefresh, UserRecommendation

# The member's own taste model (labeling) ranks the catalog too: one more list to show.
ENGINE_TASTE = "taste"
# The page's default is the first of these with stored cards: the registry's page order
# (the hybrid, then the engines by how well they rank offline), the taste model last.
ENGINE_ORDER = (*engines_in_page_order(), ENGINE_TASTE)
ENGINE_LABELS = {
    **{name: spec.tab_label or spec.label or name for name, spec in ENGINES.items()},
    ENGINE_TASTE: "Your taste model",
}
COMPARE = "compare"
PLAN = UserRecommendation.Section.PLAN
DISCOVER = UserRecommendation.Section.DISCOVER
# Statuses that mean the member has seen (some of) a title: its franchise continues from it.
SEEN = (ListEntry.Status.COMPLETED, ListEntry.Status.WATCHING, ListEntry.Status.ON_HOLD)


def personal_engine_names() -> list[str]:
    """Every name a stored list can have, in display order (one registry: ENGINES)."""
    return list(ENGINE_ORDER)


def engine_label(name: str) -> str:
    return ENGINE_LABELS.get(name, name.replace("_", " ").capitalize())


# -- the inputs of a refresh -----------------------------------------------------------


@dataclass
class PersonalInputs:
    """What one member's list and labels say, as the engines read it.

    ``scores``: mal_id -> 1-10 (list scores; a like label counts as the rule's
    ``like_min``, a dislike as its ``dislike_max``, so a label means what the same score on
    the list means: :func:`animender.score_rules.preference_rule`). ``positives``: watched
    titles not disliked, scored or not, for watch-list engines; ``negatives``: dislikes
    (low scores, labels) and unscored drops, which count against their neighbours.
    ``liked_weights``: the titles the member *likes* by the rule (the only ones a reason
    names), with how much they were liked. ``seen``: where franchises continue
    from. ``excluded``: never a discovery (listed in any way, labeled, not interested).
    """

    scores: dict[int, int] = field(default_factory=dict)
    positives: set[int] = field(default_factory=set)
    negatives: set[int] = field(default_factory=set)
    liked_weights: dict[int, float] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    excluded: set[int] = field(default_factory=set)
    plan: list[int] = field(default_factory=list)
    show_adult: bool = False

    @property
    def empty(self) -> bool:
        return not (self.positives or self.negatives or self.scores)


def personal_inputs(*, user) -> PersonalInputs:
    rule = preference_rule()
    like_score, dislike_max = rule.like_min, rule.dislike_max
    out = PersonalInputs(show_adult=adult_visible(user=user))
    entries = ListEntry.objects.filter(user=user).values_list(
        "anime_id", "status", "score", "not_interested"
    )
    for mal_id, status, score, not_interested in entries:
        out.excluded.add(mal_id)
        if not_interested:
            continue
        if status == ListEntry.Status.PLAN_TO_WATCH and score is None:
            out.plan.append(mal_id)
            continue
        if status in SEEN:
            out.seen.add(mal_id)
        if score is not None:
            out.scores[mal_id] = score
            if rule.is_dislike(score):
                out.negatives.add(mal_id)
            else:
                out.positives.add(mal_id)
            if rule.is_like(score):
                out.liked_weights[mal_id] = _like_weight(score, rule)
        elif status == ListEntry.Status.DROPPED:
            out.negatives.add(mal_id)
        elif status in SEEN:
            # Watched without a score: a positive for the engines, not a like to name.
            out.positives.add(mal_id)
    labels = Label.objects.filter(user=user).values_list("anime_id", "answer")
    for mal_id, answer in labels:
        out.excluded.add(mal_id)
        if mal_id in out.scores or mal_id in out.positives or mal_id in out.negatives:
            continue  # the list says more than a label
        if answer == Label.Answer.LIKE:
            out.scores[mal_id] = like_score
            out.positives.add(mal_id)
            out.liked_weights[mal_id] = _like_weight(like_score, rule)
        elif answer == Label.Answer.DISLIKE:
            out.scores[mal_id] = dislike_max
            out.negatives.add(mal_id)
    out.plan = [m for m in out.plan if m not in out.negatives]
    return out


def _like_weight(score: int, rule: PreferenceRule) -> float:
    """How much a like counts among the member's likes: 2 at ``like_min``, +1 a point."""
    return float(score - rule.like_min + 2)


def taste_liked_features(*, user) -> list[str]:
    """The readable features that raise the member's taste model's P(like), strongest first
    (``"genre:Psychological"``), from its latest finished run; [] without one."""
    from labeling.taste.selectors import taste_run_latest_done

    run = taste_run_latest_done(user=user)
    if run is None:
        return []
    return [name for name, _ in (run.metrics or {}).get("explain", {}).get("up", [])]


# -- stored cards ----------------------------------------------------------------------


@dataclass(frozen=True)
class RecommendationFilters:
    """What the page and ``GET /api/me/recommendations/`` may ask for (validated by
    :mod:`recommender.personal.filters`)."""

    engine: str = ""
    section: str = DISCOVER
    media_type: str = ""
    genres: tuple[str, ...] = ()
    season: str = ""
    year: int | None = None
    status: str = ""
    min_score: float | None = None
    episodes_min: int | None = None
    episodes_max: int | None = None
    surprise: bool = False
    limit: int = 24
    offset: int = 0


@dataclass
class EngineTab:
    name: str
    label: str
    count: int


@dataclass
class RecommendationPage:
    engine: str
    rows: list[UserRecommendation]
    total: int
    filters: RecommendationFilters

    @property
    def next_offset(self) -> int | None:
        end = self.filters.offset + len(self.rows)
        return end if end < self.total else None


def refresh_state_get(*, user) -> RecommendationRefresh | None:
    return RecommendationRefresh.objects.filter(user=user).first()


def engine_tabs(*, user) -> list[EngineTab]:
    """Engines with stored discoveries for the member, in display order (one query)."""
    counts = dict(
        UserRecommendation.objects.filter(user=user, section=DISCOVER)
        .values_list("engine")
        .annotate(n=Count("pk"))
        .order_by()
    )
    names = [e for e in personal_engine_names() if counts.get(e)]
    names += sorted(e for e in counts if e not in names)
    return [EngineTab(e, engine_label(e), counts[e]) for e in names]


def default_engine(tabs: list[EngineTab]) -> str:
    return tabs[0].name if tabs else ""


def _stored(*, user, engine: str, section: str) -> QuerySet[UserRecommendation]:
    qs = UserRecommendation.objects.filter(user=user, engine=engine, section=section)
    if section == PLAN:
        # Still on the plan-to-watch list: a title rated since leaves the section.
        return qs.filter(
            anime_id__in=ListEntry.objects.filter(
                user=user, status=ListEntry.Status.PLAN_TO_WATCH, not_interested=False
            ).values("anime_id")
        )
    # Acted on since the refresh (rated, planned, not interested, labeled): gone already.
    return qs.exclude(anime_id__in=ListEntry.objects.filter(user=user).values("anime_id")).exclude(
        anime_id__in=Label.objects.filter(user=user).values("anime_id")
    )


def _filtered(qs, f: RecommendationFilters, *, show_adult: bool):
    if not show_adult:
        qs = qs.filter(anime__is_adult=False)
    catalog = AnimeSearchParams(
        genres=f.genres,
        media_type=f.media_type,
        season=f.season,
        year=f.year,
        status=f.status,
        min_score=f.min_score,
    )
    if catalog != AnimeSearchParams():
        # The catalog's own filters (one definition with the browse page), as a semi-join.
        qs = qs.filter(
            anime_id__in=anime_search(params=catalog, show_adult=show_adult).values("mal_id")
        )
    if f.episodes_min is not None:
        qs = qs.filter(anime__num_episodes__gte=f.episodes_min)
    if f.episodes_max is not None:
        qs = qs.filter(anime__num_episodes__lte=f.episodes_max)
    if f.surprise:
        # Favour the titles most people have not heard of: leave out MAL's most popular.
        qs = qs.filter(
            Q(anime__popularity__gt=settings.RECOMMENDATIONS_SURPRISE_SKIP_POPULAR)
            | Q(anime__popularity__isnull=True)
        )
    return qs


def user_recommendation_list(
    *, user, filters: RecommendationFilters, exclude: set[int] = frozenset()
) -> RecommendationPage:
    """One page of the member's stored cards for an engine (the default when blank)."""
    engine = filters.engine or default_engine(engine_tabs(user=user))
    qs = _stored(user=user, engine=engine, section=filters.section)
    qs = _filtered(qs, filters, show_adult=adult_visible(user=user))
    if exclude:
        qs = qs.exclude(anime_id__in=exclude)
    qs = qs.select_related("anime").order_by("rank")
    total = qs.count()
    rows = list(qs[filters.offset : filters.offset + filters.limit])
    return RecommendationPage(engine=engine, rows=rows, total=total, filters=filters)


def user_recommendation_next(
    *, user, filters: RecommendationFilters, shown: set[int]
) -> UserRecommendation | None:
    """The best stored card not on the page yet: what replaces a card acted on."""
    page = user_recommendation_list(
        user=user,
        filters=RecommendationFilters(**{**filters.__dict__, "limit": 1, "offset": 0}),
        exclude=shown,
    )
    return page.rows[0] if page.rows else None


def engines_side_by_side(*, user, tabs: list[EngineTab], per_engine: int = 8) -> list[dict]:
    """Each engine's top cards, for the comparison view."""
    show_adult = adult_visible(user=user)
    out = []
    for tab in tabs:
        qs = _filtered(
            _stored(user=user, engine=tab.name, section=DISCOVER),
            RecommendationFilters(),
            show_adult=show_adult,
        )
        rows = list(qs.select_related("anime").order_by("rank")[:per_engine])
        out.append({"tab": tab, "rows": rows})
    return out


def recommendations_cold_start(*, tabs: list[EngineTab]) -> bool:
    """Whether the member starts from popular titles: nothing is stored for them yet (a new
    member, a first refresh on its way, or no engine trained). ``tabs``: their
    :func:`engine_tabs`. The one decision for the page and ``GET /api/me/recommendations/``."""
    return not tabs


def _popular_start_queryset(*, user) -> QuerySet[Anime]:
    qs = Anime.objects.exclude(
        mal_id__in=ListEntry.objects.filter(user=user).values("anime_id")
    ).exclude(mal_id__in=Label.objects.filter(user=user).values("anime_id"))
    if not adult_visible(user=user):
        qs = qs.filter(is_adult=False)
    return qs.filter(popularity__isnull=False).order_by("popularity", "mal_id")


def popular_start(*, user, limit: int = 24, offset: int = 0) -> list[Anime]:
    """A new member's start: the most popular titles they have not listed or labeled."""
    qs = _popular_start_queryset(user=user)
    return list(qs.prefetch_related("genres")[offset : offset + limit])


def popular_start_page(*, user, limit: int, offset: int = 0) -> RecommendationPage:
    """One page of :func:`popular_start` as unsaved cards, ranked across pages (the first
    card of the page at ``offset`` 10 is rank 11)."""
    popular = popular_start(user=user, limit=limit, offset=offset)
    rows = [popular_card(anime, rank) for rank, anime in enumerate(popular, start=offset + 1)]
    total = _popular_start_queryset(user=user).count()
    return RecommendationPage(
        engine="", rows=rows, total=total, filters=RecommendationFilters(limit=limit, offset=offset)
    )


def has_taste_input(*, user) -> bool:
    """Whether the member has told us anything (a list entry or a label)."""
    return ListEntry.objects.filter(user=user).exists() or Label.objects.filter(user=user).exists()


def popular_card(anime: Anime, rank: int) -> UserRecommendation:
    """A popular title shown as an (unsaved) card to a member with nothing to go on yet."""
    from recommender.personal.reasons import POPULAR

    return UserRecommendation(
        engine="",
        rank=rank,
        anime=anime,
        score=None,
        reasons=[{"kind": POPULAR}],
    )
