"""Title search ranked the way people type: exact names first, then prefixes and words,
then any substring, then near misses (typos), each tier by popularity.

``search_text`` holds every name of a title normalised (:func:`records.normalize_name`)
between ``|`` marks, so the first three tiers are plain ``LIKE`` patterns on both
databases; a name with a trailing qualifier ("Jujutsu Kaisen (TV)") is stored without it
too, so the bare name is an exact match and popularity orders it among the others. The
fourth differs by database, with the same order for the common cases:

* PostgreSQL: ``pg_trgm``'s GIN index serves the substring ``LIKE``s, full-text search
  (``to_tsvector('simple', ...)`` with prefix terms, its own GIN index) decides the word
  tier, and when nothing matches, ``pg_trgm`` word similarity (``%>``) finds and orders
  the typos (migration 0003).
* SQLite: the same ``LIKE``s; the typo fallback is a trigram word similarity computed in
  Python, modelled on pg_trgm's.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchQuery, SearchVector, TrigramWordSimilarity
from django.db import connection
from django.db.models import Case, F, FloatField, IntegerField, Q, QuerySet, Value, When

from .records import NAME_MARK, normalize_name

# pg_trgm's default word_similarity_threshold; the Python version uses the same bar.
FUZZY_THRESHOLD = 0.6
# Up to this many matches the name patterns are evaluated once and the count and the page
# then read the matches by primary key; broader queries ("a") keep the patterns.
MAX_PINNED_MATCHES = 2000
# The closest near misses kept, on both databases: plenty for pages of typo matches, and
# the similarity is then computed for these rows only (the SQLite CASE stays small).
MAX_FUZZY_MATCHES = 200
EXACT, WORDS, SUBSTRING, FUZZY = 0, 1, 2, 3


def _nothing(qs: QuerySet) -> QuerySet:
    return qs.annotate(
        search_tier=Value(FUZZY, output_field=IntegerField()),
        search_fuzz=Value(0.0, output_field=FloatField()),
    ).none()


def _all(terms: list[str], make) -> Q:
    q = Q()
    for term in terms:
        q &= make(term)
    return q


def search_ranked(qs: QuerySet, raw_query: str) -> QuerySet:
    """``qs`` narrowed to titles matching ``raw_query``, annotated with ``search_tier``
    (0 exact name, 1 prefix or every word, 2 substring, 3 typo) and ``search_fuzz``
    (lower is closer); order by both, then popularity.

    Every query word must appear in some name. Only when no title has them all does the
    search fall back to near misses (typos), on both databases alike.
    """
    query = normalize_name(raw_query)
    if not query:
        return _nothing(qs)
    terms = query.split()
    strict = qs.filter(_all(terms, _term_matches))
    # One pass over the name index instead of three (the probe, the count, the page):
    # for multi-word queries each pass walks long trigram posting lists.
    matches = list(strict.values_list("pk", flat=True)[: MAX_PINNED_MATCHES + 1])
    if not matches:
        return _fuzzy(qs, query)
    if len(matches) <= MAX_PINNED_MATCHES:
        strict = qs.filter(pk__in=matches)
    exact = Q(search_text__contains=f"{NAME_MARK}{query}{NAME_MARK}")
    prefix = Q(search_text__contains=f"{NAME_MARK}{query}")
    return strict.annotate(
        search_tier=Case(
            When(exact, then=Value(EXACT)),
            When(prefix | _every_word_starts(qs, terms), then=Value(WORDS)),
            default=Value(SUBSTRING),
            output_field=IntegerField(),
        ),
        search_fuzz=Value(0.0, output_field=FloatField()),
    )


def _word_start(term: str) -> Q:
    return Q(search_text__contains=f"{NAME_MARK}{term}") | Q(search_text__contains=f" {term}")


def _term_matches(term: str) -> Q:
    """A query word matches anywhere in a name, except a Latin word of one or two letters
    ("k" of "k-on", "re" of "re:zero"), which must start a word: as a bare substring it
    would match most of the catalog (and no trigram index can serve it)."""
    if len(term) < 3 and term.isascii():
        return _word_start(term)
    return Q(search_text__contains=term)


def _every_word_starts(qs: QuerySet, terms: list[str]) -> Q:
    """Titles where every term starts a word of a name."""
    if connection.vendor == "postgresql":
        # Full-text search with prefix terms, served by the GIN index once (a hashed
        # subplan), not a to_tsvector() per candidate row. Terms are letters and digits
        # only (normalised), so the raw tsquery is safe.
        words = SearchQuery(" & ".join(f"{t}:*" for t in terms), search_type="raw", config="simple")
        matching = (
            qs.model.objects.annotate(v=SearchVector("search_text", config="simple"))
            .filter(v=words)
            .values("pk")
        )
        return Q(pk__in=matching)
    return _all(terms, _word_start)


def _fuzzy(qs: QuerySet, query: str) -> QuerySet:
    if connection.vendor == "postgresql":
        # pg_trgm: %> is word_similarity(query, search_text) above the threshold, served
        # by the trigram GIN index.
        similarity = TrigramWordSimilarity(query, "search_text")
        closest = list(
            qs.filter(search_text__trigram_word_similar=query)
            .annotate(similarity=similarity)
            .order_by("-similarity")
            .values_list("pk", flat=True)[:MAX_FUZZY_MATCHES]
        )
        if not closest:
            return _nothing(qs)
        return qs.filter(pk__in=closest).annotate(
            search_tier=Value(FUZZY, output_field=IntegerField()),
            search_fuzz=-similarity,
        )
    return _python_fuzzy(qs, query)


# -- SQLite: typo tolerance in Python ---------------------------------------------------


def _trigrams(word: str) -> set[str]:
    padded = f"  {word} "  # pg_trgm pads each word with two spaces before, one after
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def word_similarity(query: str, text: str) -> float:
    """The best trigram similarity between ``query`` and any run of whole consecutive
    words of one name in ``text`` (``|``-separated), like pg_trgm's ``word_similarity``
    restricted to word boundaries."""
    wanted = set().union(*(_trigrams(w) for w in query.split()))
    if not wanted:
        return 0.0
    best = 0.0
    for name in text.split(NAME_MARK):
        grams = [_trigrams(w) for w in name.split()]
        for start in range(len(grams)):
            seen: set[str] = set()
            for end in range(start, len(grams)):
                seen |= grams[end]
                common = len(wanted & seen)
                if common == 0 and end > start:
                    break
                best = max(best, common / len(wanted | seen))
                if len(seen) > 2 * len(wanted):
                    break
    return best


def _python_fuzzy(qs: QuerySet, query: str) -> QuerySet:
    scored = {}
    for mal_id, text in qs.values_list("mal_id", "search_text").iterator(chunk_size=2000):
        similarity = word_similarity(query, text)
        if similarity >= FUZZY_THRESHOLD:
            scored[mal_id] = similarity
    if not scored:
        return _nothing(qs)
    scored = dict(sorted(scored.items(), key=lambda kv: -kv[1])[:MAX_FUZZY_MATCHES])
    return qs.filter(mal_id__in=list(scored)).annotate(
        search_tier=Value(FUZZY, output_field=IntegerField()),
        search_fuzz=Case(
            *(When(mal_id=m, then=Value(-s)) for m, s in scored.items()),
            output_field=FloatField(),
        ),
    )


RELEVANCE_ORDER = (
    F("search_tier").asc(),
    F("search_fuzz").asc(),
    F("popularity").asc(nulls_last=True),
    F("num_list_users").desc(nulls_last=True),
    "mal_id",
)
