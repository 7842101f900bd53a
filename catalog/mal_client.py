"""The only code that talks HTTP to MyAnimeList (API v2, client-id auth).

Policy from ``shared/docs/mal-api.md``: always the endpoint's maximum ``limit`` and
``nsfw=true`` on list calls (§2, §5); paging reads ``offset`` out of ``paging.next`` and
rebuilds the URL on our configured base (§5); one request at a time with a pause; retries
with exponential backoff and full jitter for 429, 5xx, timeouts and connection errors;
403 is a config error on the first call and throttling after a success (§6).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

import requests

from .mal_mapping import LIST_FIELDS, anime_record_from_node, parse_datetime, requested_fields
from .records import SEASONS, AnimeRecord

DETAIL_FIELDS = LIST_FIELDS  # detail-only fields (pictures, related...) are not stored

RANKING_TYPES = frozenset(
    {"all", "airing", "upcoming", "tv", "ova", "movie", "special", "bypopularity", "favorite"}
)
LIST_STATUS_FIELDS = (
    "status,score,num_episodes_watched,is_rewatching,updated_at,start_date,"
    "finish_date,priority,num_times_rewatched,rewatch_value,tags"
)


class MalError(Exception):
    """Base of every MAL failure. ``retryable``: worth trying again later (resume)."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, code: str = "", url: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code
        self.url = url


class MalConfigError(MalError):
    """Our configuration is wrong (no client id, rejected id): retrying will not help."""


class MalBadRequest(MalError):
    pass


class MalBadClientId(MalConfigError, MalBadRequest):
    pass


class MalForbidden(MalConfigError):
    """403 on a run's first call: missing/blocked credentials, not throttling."""


class MalNotFound(MalError):
    pass


class MalUserNotFound(MalNotFound):
    """404 on ``users/{name}/animelist``: MAL has no member by that name."""


class MalListPrivate(MalForbidden):
    """403 on a run's first ``users/{name}/animelist`` call with a valid client id: the list
    is not public (a client id reads public lists only, mal-api.md §1)."""


class MalBadPayload(MalError):
    """MAL answered 200 with something that is not its JSON: the same page fails again."""


class MalCancelled(MalError):
    """The run using this client stopped (:meth:`MalClient.cancel`); no request was made."""


class MalThrottled(MalError):
    """429, or 403 after the run had successes ("DoS detected"); retries are exhausted."""

    retryable = True


class MalServerError(MalError):
    """5xx, timeout or connection error that outlived the retries."""

    retryable = True


@dataclass
class Page:
    endpoint: str
    offset: int
    next_offset: int | None  # None: this was the last page
    records: list[AnimeRecord]
    items: list[dict] = field(default_factory=list)  # the raw list items (ranking, list_status)


@dataclass
class ListStatus:
    status: str
    score: int | None  # MAL sends 0 for "not scored"
    num_episodes_watched: int
    is_rewatching: bool
    updated_at: datetime | None
    start_date: str = ""
    finish_date: str = ""
    priority: int | None = None
    num_times_rewatched: int | None = None
    rewatch_value: int | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RelatedAnime:
    """One ``related_anime`` entry of a details call: ``mal_id`` is ``relation_type`` of it."""

    mal_id: int
    relation_type: str
    title: str = ""


@dataclass
class UserListEntry:
    anime: AnimeRecord
    list_status: ListStatus | None


def max_limit(endpoint: str) -> int:
    """The documented maximum ``limit`` of a list endpoint (mal-api.md §0)."""
    parts = endpoint.strip("/").split("/")
    if parts[:1] == ["users"] and parts[-1:] == ["animelist"]:
        return 1000
    if parts[:2] in (["anime", "ranking"], ["anime", "season"]):
        return 500
    if parts == ["anime"]:
        return 100
    raise ValueError(f"not a MAL list endpoint: {endpoint!r}")


def _retry_after_seconds(raw: str | None, now: float) -> float | None:
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        return max(parsedate_to_datetime(raw).timestamp() - now, 0.0)
    except (TypeError, ValueError):
        return None


def _error_body(response: requests.Response) -> tuple[str, str]:
    """(message, error) of a MAL error body; 5xx bodies may be HTML or empty."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("message") or ""), str(body.get("error") or "")


class MalClient:
    """One sync run's connection to MAL. Not thread-safe: MAL wants one request at a time."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        timeout: float = 20.0,
        connect_timeout: float | None = None,
        max_retries: int = 6,
        backoff_base: float = 2.0,
        backoff_max: float = 300.0,
        request_interval: float = 1.0,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
    ):
        if not client_id:
            raise MalConfigError(
                "MAL_CLIENT_ID is not set: register an API client at "
                "https://myanimelist.net/apiconfig and set MAL_CLIENT_ID."
            )
        self.base_url = base_url.rstrip("/")
        # Connect fast-fails an unreachable host; read allows MAL's slow 500-item pages.
        self.timeout = (min(connect_timeout or 5.0, timeout), timeout)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.request_interval = request_interval
        # Waits (pacing, backoff) end early on cancel(), so a stopped run stops calling MAL.
        self._cancelled = threading.Event()
        self._sleep = sleep or self._cancelled.wait
        self._clock = clock
        self._rng = rng or random.Random()
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "X-MAL-CLIENT-ID": client_id,
                "Accept": "application/json",
                "User-Agent": "animender-catalog-sync/1.0",
            }
        )
        self.requests_made = 0  # HTTP attempts, retries included
        self.had_success = False
        self._last_request_at: float | None = None

    @classmethod
    def from_settings(cls, **overrides) -> MalClient:
        from django.conf import settings

        kwargs = dict(
            base_url=settings.MAL_API_BASE_URL,
            client_id=settings.MAL_CLIENT_ID,
            timeout=settings.MAL_TIMEOUT_SECONDS,
            max_retries=settings.MAL_MAX_RETRIES,
            backoff_base=settings.MAL_BACKOFF_BASE_SECONDS,
            backoff_max=settings.MAL_BACKOFF_MAX_SECONDS,
            request_interval=settings.MAL_REQUEST_INTERVAL_SECONDS,
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    def begin_run(self) -> None:
        """A new run: its first 403 is again a config error, not throttling."""
        self.had_success = False
        self._cancelled.clear()

    def cancel(self) -> None:
        """Stop from any thread: a wait in progress ends now and no further request is sent
        (the call in progress raises :class:`MalCancelled`) until :meth:`begin_run`."""
        self._cancelled.set()

    def close(self) -> None:
        self.session.close()

    # -- endpoints ---------------------------------------------------------------------

    def anime_details(
        self, anime_id: int, *, fields: tuple[str, ...] = DETAIL_FIELDS
    ) -> AnimeRecord:
        """One title; NSFW titles come without the nsfw flag. Raises MalNotFound."""
        field_list = ",".join(fields)
        body = self._get(f"anime/{int(anime_id)}", {"fields": field_list})
        if not isinstance(body, dict):
            raise MalServerError("MAL details response is not a JSON object")
        return anime_record_from_node(body, fields=requested_fields(field_list))

    def anime_related(self, anime_id: int) -> list[RelatedAnime]:
        """MAL's ``related_anime`` of one title (detail-only field, §4). Raises MalNotFound."""
        body = self._get(f"anime/{int(anime_id)}", {"fields": "related_anime"})
        if not isinstance(body, dict):
            raise MalServerError("MAL details response is not a JSON object")
        related = []
        for item in body.get("related_anime") or []:
            node = item.get("node") if isinstance(item, dict) else None
            kind = item.get("relation_type") if isinstance(item, dict) else None
            if not isinstance(node, dict) or not isinstance(kind, str) or not kind:
                continue  # a malformed entry says nothing about the franchise
            raw_id = node.get("id")
            if isinstance(raw_id, bool) or not isinstance(raw_id, int) or raw_id <= 0:
                continue
            related.append(RelatedAnime(raw_id, kind, str(node.get("title") or "")))
        return related

    def ranking_pages(self, ranking_type: str = "all", *, offset: int = 0) -> Iterator[Page]:
        if ranking_type not in RANKING_TYPES:
            raise ValueError(f"unknown ranking_type {ranking_type!r}")
        return self.pages("anime/ranking", {"ranking_type": ranking_type}, offset=offset)

    def season_pages(
        self, year: int, season: str, *, sort: str = "anime_num_list_users", offset: int = 0
    ) -> Iterator[Page]:
        if season not in SEASONS:
            raise ValueError(f"unknown season {season!r}")
        return self.pages(f"anime/season/{int(year)}/{season}", {"sort": sort}, offset=offset)

    def search_pages(self, q: str, *, offset: int = 0) -> Iterator[Page]:
        # MAL rejects q outside 3..64 characters (§3.1): trim long, refuse short.
        q = q.strip()[:64]
        if len(q) < 3:
            raise ValueError("search query needs at least 3 characters")
        return self.pages("anime", {"q": q}, offset=offset)

    def user_animelist(
        self, user_name: str, *, status: str | None = None, sort: str = "list_updated_at"
    ) -> Iterator[UserListEntry]:
        """Every entry of a public list (or ``@me`` with OAuth), newest edit first."""
        for page in self.user_animelist_pages(user_name, status=status, sort=sort):
            for record, item in zip(page.records, page.items, strict=True):
                yield UserListEntry(anime=record, list_status=_list_status(item.get("list_status")))

    def user_animelist_pages(
        self, user_name: str, *, status: str | None = None, sort: str = "list_updated_at"
    ) -> Iterator[Page]:
        """Pages of up to 1000 entries; the items carry ``list_status``. Raises
        MalUserNotFound / MalListPrivate for an unknown member or a private list."""
        user_name = _user_name(user_name)
        params = {"sort": sort, **({"status": status} if status else {})}
        fields = ",".join(LIST_FIELDS) + f",list_status{{{LIST_STATUS_FIELDS}}}"
        pages = self.pages(f"users/{user_name}/animelist", params, fields=fields)
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except (MalNotFound, MalForbidden) as exc:
                raise _user_list_error(user_name, exc) from None
            yield page

    def user_animelist_check(self, user_name: str) -> None:
        """One cheap request that fails like a full import would (unknown user, private
        list, MAL down), so a form can say so at once."""
        user_name = _user_name(user_name)
        try:
            self._get(f"users/{user_name}/animelist", {"limit": 1, "fields": "id"})
        except (MalNotFound, MalForbidden) as exc:
            raise _user_list_error(user_name, exc) from None

    def pages(
        self, endpoint: str, params: dict, *, offset: int = 0, fields: str | None = None
    ) -> Iterator[Page]:
        """Walk a list endpoint from ``offset``; each page says where the next one starts."""
        endpoint = endpoint.strip("/")
        limit = max_limit(endpoint)
        field_list = fields or ",".join(LIST_FIELDS)
        wanted = requested_fields(field_list)
        while True:
            query = {
                **params,
                "offset": offset,
                "limit": limit,
                "fields": field_list,
                "nsfw": "true",
            }
            body = self._get(endpoint, query)
            data = body.get("data") if isinstance(body, dict) else None
            items = (
                [d for d in data if isinstance(d, dict) and isinstance(d.get("node"), dict)]
                if isinstance(data, list)
                else []
            )
            next_offset = _next_offset((body.get("paging") or {}).get("next")) if items else None
            if next_offset is not None and next_offset <= offset:
                next_offset = None  # a next link that does not advance would loop forever
            records = [anime_record_from_node(i["node"], fields=wanted) for i in items]
            yield Page(
                endpoint=endpoint,
                offset=offset,
                next_offset=next_offset,
                records=records,
                items=items,
            )
            if next_offset is None:
                return
            offset = next_offset

    # -- transport ---------------------------------------------------------------------

    def _get(self, endpoint: str, params: dict) -> dict:
        url = f"{self.base_url}/{endpoint}"
        attempt = 0
        while True:
            self._pace()
            if self._cancelled.is_set():
                raise MalCancelled("the run stopped; request not sent", url=url)
            self.requests_made += 1
            wait: float | None = None
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except requests.Timeout as exc:
                error: MalError = MalServerError(f"timeout talking to MAL: {exc}", url=url)
            except requests.ConnectionError as exc:
                error = MalServerError(f"connection error talking to MAL: {exc}", url=url)
            else:
                if response.status_code == 200:
                    try:
                        body = response.json()
                    except ValueError:
                        error = MalBadPayload(
                            "MAL sent a 200 that is not JSON", status=200, url=url
                        )
                    else:
                        self.had_success = True
                        return body
                else:
                    error = self._http_error(response, url)
                    wait = _retry_after_seconds(response.headers.get("Retry-After"), time.time())
            if not error.retryable or attempt >= self.max_retries:
                if error.retryable:
                    error.args = (f"{error.args[0]} (gave up after {attempt + 1} attempts)",)
                raise error
            self._sleep(self._backoff(attempt, wait))
            attempt += 1

    def _http_error(self, response: requests.Response, url: str) -> MalError:
        status = response.status_code
        message, code = _error_body(response)
        detail = f"HTTP {status} from {urlsplit(url).path}"
        if message or code:
            detail += f": {message or code}"
        kwargs = dict(status=status, code=code, url=url)
        if status == 400 and message.lower() == "invalid client id":
            return MalBadClientId(
                "MAL rejected MAL_CLIENT_ID (400 Invalid client id): check "
                "the id at https://myanimelist.net/apiconfig.",
                **kwargs,
            )
        if status == 403:
            if self.had_success:
                return MalThrottled(f"{detail} (MAL throttling after earlier successes)", **kwargs)
            return MalForbidden(
                f"{detail}: MAL refused the first request; check MAL_CLIENT_ID "
                "or whether this IP is blocked.",
                **kwargs,
            )
        if status == 404:
            return MalNotFound(detail, **kwargs)
        if status == 429:
            return MalThrottled(detail, **kwargs)
        if status >= 500:
            return MalServerError(detail, **kwargs)
        return MalBadRequest(detail, **kwargs)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        # Full jitter: spreads retries of many clients instead of synchronising them.
        return self._rng.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))

    def _pace(self) -> None:
        if self._last_request_at is not None and self.request_interval > 0:
            # A little jitter so a fleet of workers does not fire in lockstep.
            interval = self.request_interval * self._rng.uniform(1.0, 1.25)
            remaining = self._last_request_at + interval - self._clock()
            if remaining > 0:
                self._sleep(remaining)
        self._last_request_at = self._clock()


def _user_list_error(user_name: str, exc: MalError) -> MalError:
    """A user-list 404 or first-call 403, said in the member's terms."""
    kwargs = dict(status=exc.status, code=exc.code, url=exc.url)
    if isinstance(exc, MalNotFound):
        return MalUserNotFound(f"MyAnimeList has no user named {user_name!r}.", **kwargs)
    return MalListPrivate(
        f"The anime list of {user_name!r} is private on MyAnimeList; make it public there "
        "(Account Settings, Privacy), or upload your XML export.",
        **kwargs,
    )


def _user_name(raw: str) -> str:
    """MAL user names are 2-16 letters, digits, '_' or '-'; anything else cannot exist and
    must not reach the URL path."""
    name = (raw or "").strip()
    if name == "@me":
        return name
    if not 2 <= len(name) <= 16 or not all(
        c.isascii() and (c.isalnum() or c in "_-") for c in name
    ):
        raise MalUserNotFound(f"{name!r} is not a valid MyAnimeList user name.")
    return name


def _next_offset(next_url: object) -> int | None:
    """The ``offset`` in a paging link; the host is ignored (it may be MAL's or a proxy's)."""
    if not isinstance(next_url, str) or not next_url:
        return None
    values = parse_qs(urlsplit(next_url).query).get("offset")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def _list_status(raw: object) -> ListStatus | None:
    if not isinstance(raw, dict):
        return None

    def number(key: str) -> int | None:
        value = raw.get(key)
        return (
            int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )

    score = number("score")
    return ListStatus(
        status=str(raw.get("status") or ""),
        score=score or None,
        num_episodes_watched=number("num_episodes_watched") or 0,
        is_rewatching=bool(raw.get("is_rewatching")),
        updated_at=parse_datetime(raw.get("updated_at")),
        start_date=str(raw.get("start_date") or ""),
        finish_date=str(raw.get("finish_date") or ""),
        priority=number("priority"),
        num_times_rewatched=number("num_times_rewatched"),
        rewatch_value=number("rewatch_value"),
        tags=[t for t in raw.get("tags") or [] if isinstance(t, str)],
    )
