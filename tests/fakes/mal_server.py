"""A local fake of the MyAnimeList API v2, built to ``shared/docs/mal-api.md`` §9.

Serves titles from a catalog CSV (plus fictional edge-case titles from
``tests/catalog/fixtures/``) in the real v2 shapes over real HTTP, so tests and the
benchmark run our real client unchanged. Stdlib only (wsgiref, threaded).

    with FakeMal.from_csv(path) as fake:
        settings.MAL_API_BASE_URL = fake.base_url
        fake.fail("429", at=2, retry_after="0")   # inject faults by request number or path
        ...
        fake.requests                               # the request log
"""

from __future__ import annotations

import csv
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from urllib.parse import parse_qsl, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

FIXTURES = Path(__file__).resolve().parent.parent / "catalog" / "fixtures"

VALID_CLIENT_ID = "fake-client-id-0123456789abcdef"
MAX_LIMITS = {"search": 100, "ranking": 500, "season": 500, "animelist": 1000}
DEFAULT_FIELDS = ("id", "title", "main_picture")
LIST_FIELDS = frozenset(
    {
        "id",
        "title",
        "main_picture",
        "alternative_titles",
        "start_date",
        "end_date",
        "synopsis",
        "mean",
        "rank",
        "popularity",
        "num_list_users",
        "num_scoring_users",
        "nsfw",
        "genres",
        "created_at",
        "updated_at",
        "media_type",
        "status",
        "num_episodes",
        "start_season",
        "broadcast",
        "source",
        "average_episode_duration",
        "rating",
        "studios",
    }
)
DETAIL_ONLY_FIELDS = frozenset(
    {"pictures", "background", "related_anime", "related_manga", "recommendations", "statistics"}
)
RANKING_TYPES = (
    "all",
    "airing",
    "upcoming",
    "tv",
    "ova",
    "movie",
    "special",
    "bypopularity",
    "favorite",
)
SEASONS = ("winter", "spring", "summer", "fall")
LIST_STATUSES = ("watching", "completed", "on_hold", "dropped", "plan_to_watch")
# MAL's classic genre ids, so genres carry stable ids whichever catalog is loaded.
GENRE_IDS = {
    "Action": 1,
    "Adventure": 2,
    "Cars": 3,
    "Comedy": 4,
    "Dementia": 5,
    "Demons": 6,
    "Mystery": 7,
    "Drama": 8,
    "Ecchi": 9,
    "Fantasy": 10,
    "Game": 11,
    "Hentai": 12,
    "Historical": 13,
    "Horror": 14,
    "Kids": 15,
    "Magic": 16,
    "Martial Arts": 17,
    "Mecha": 18,
    "Music": 19,
    "Parody": 20,
    "Samurai": 21,
    "Romance": 22,
    "School": 23,
    "Sci-Fi": 24,
    "Shoujo": 25,
    "Shoujo Ai": 26,
    "Shounen": 27,
    "Shounen Ai": 28,
    "Space": 29,
    "Sports": 30,
    "Super Power": 31,
    "Vampire": 32,
    "Yaoi": 33,
    "Yuri": 34,
    "Harem": 35,
    "Slice of Life": 36,
    "Supernatural": 37,
    "Military": 38,
    "Police": 39,
    "Psychological": 40,
    "Thriller": 41,
    "Seinen": 42,
    "Josei": 43,
}
_GENRE_CANON = {name.lower(): name for name in GENRE_IDS}
_RATINGS = (("rx", "rx"), ("r+", "r+"), ("r ", "r"), ("pg-13", "pg_13"), ("pg ", "pg"), ("g ", "g"))
_SEASON_MONTH = {"winter": 1, "spring": 4, "summer": 7, "fall": 10}
_MEDIA = {
    "tv": "tv",
    "ova": "ova",
    "movie": "movie",
    "special": "special",
    "ona": "ona",
    "music": "music",
    "tv special": "tv_special",
}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Fault:
    """One injected failure. ``kind``: "429" "500" "502" "503" "504" "403" "400" "404",
    "reset", or "garbage" (a 200 whose body is not JSON)."""

    kind: str
    at: int | None = None  # 1-based request number; None = any request
    path: str | None = None  # substring of "path?query"; None = any path
    times: int | None = 1  # how many requests it hits; None = every matching one
    retry_after: str | None = None
    delay: float = 0.0  # seconds before answering (the slow 504)


@dataclass
class LoggedRequest:
    number: int
    path: str
    params: dict[str, str]
    status: int | str = 0  # HTTP status, or "reset"
    client_id: str | None = None


@dataclass
class FakeAnime:
    node: dict  # every field the title has, MAL shape
    carry_over: list[tuple[int, str]] = field(default_factory=list)


def _stable_id(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def _split(raw: str, sep: str = ",") -> list[str]:
    return [part.strip() for part in raw.split(sep) if part.strip()]


def anime_from_csv_row(row: dict[str, str]) -> FakeAnime:
    """A catalog CSV row as the full MAL object (detail fields included)."""
    get = lambda key: (row.get(key) or "").strip()  # noqa: E731
    mal_id = int(get("anime_id"))
    genres = list(dict.fromkeys(_GENRE_CANON.get(g.lower(), g) for g in _split(get("genres"))))
    node: dict = {"id": mal_id, "title": get("name")}
    if image := get("image_url"):
        node["main_picture"] = {"medium": image, "large": image.replace(".jpg", "l.jpg")}
    alts = [t for t in _split(get("alt_titles"), "|") if t != node["title"]]
    node["alternative_titles"] = {"synonyms": alts, "en": "", "ja": ""}
    if premiered := get("premiered"):
        season, year = premiered.split()
        season = season.lower()
        node["start_date"] = f"{year}-{_SEASON_MONTH[season]:02d}"
        node["start_season"] = {"year": int(year), "season": season}
    if synopsis := get("synopsis"):
        node["synopsis"] = synopsis
    for key, column, cast in (
        ("mean", "score", float),
        ("rank", "rank", int),
        ("popularity", "popularity", int),
        ("num_list_users", "members", int),
        ("num_scoring_users", "scored_by", int),
        ("num_favorites", "favorites", int),
    ):
        if raw := get(column):
            node[key] = cast(float(raw))
    node["nsfw"] = "black" if "Hentai" in genres else "gray" if "Ecchi" in genres else "white"
    node["genres"] = [{"id": GENRE_IDS.get(g) or _stable_id(g), "name": g} for g in genres]
    node["created_at"] = "2016-01-01T00:00:00+00:00"
    node["updated_at"] = "2021-01-15T00:00:00+00:00"
    node["media_type"] = _MEDIA.get(get("type").lower(), "unknown")
    node["status"] = "finished_airing"
    node["num_episodes"] = int(get("episodes") or 0)  # MAL: 0 = unknown
    label = get("age_rating").lower() + " "
    if rating := next((code for prefix, code in _RATINGS if label.startswith(prefix)), ""):
        node["rating"] = rating
    node["studios"] = [{"id": _stable_id(s), "name": s} for s in _split(get("studios"))]
    node.update(
        pictures=[node["main_picture"]] if "main_picture" in node else [],
        background="",
        related_anime=[],
        related_manga=[],
        recommendations=[],
    )
    return FakeAnime(node=node)


def load_csv(path: str | Path) -> list[FakeAnime]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [anime_from_csv_row(row) for row in csv.DictReader(fh)]


def load_fixture_anime(path: Path = FIXTURES / "mal_extra_anime.json") -> list[FakeAnime]:
    items = json.loads(path.read_text(encoding="utf-8"))["anime"]
    result = []
    for item in items:
        carry = [(int(y), s) for y, s in item.pop("_carry_over", [])]
        result.append(FakeAnime(node=item, carry_over=carry))
    return result


def load_fixture_relations(path: Path = FIXTURES / "mal_related_anime.json") -> dict:
    """{mal_id: [(related id, relation_type), ...]} recorded from MAL's details endpoint."""
    raw = json.loads(path.read_text(encoding="utf-8"))["related_anime"]
    return {int(k): [(int(r), str(t)) for r, t in v] for k, v in raw.items()}


def _json(obj: object) -> bytes:
    # Like MAL: non-ASCII as \uXXXX and "/" as "\/" (both legal JSON escapes).
    return (
        json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
        .replace("/", "\\/")
        .encode("ascii")
    )


def _error(message: str, error: str) -> dict:
    return {"message": message, "error": error}  # MAL's key order: message, then error


def parse_fields(raw: str | None) -> dict[str, str | None]:
    """``a,b{c,d}`` -> {"a": None, "b": "c,d"}."""
    if raw is None:
        return dict.fromkeys(DEFAULT_FIELDS)
    result: dict[str, str | None] = {}
    depth, name, sub = 0, "", ""
    for char in raw + ",":
        if char == "{":
            depth += 1
            if depth == 1:
                continue
        elif char == "}":
            depth -= 1
            if depth == 0:
                continue
        if depth == 0 and char == ",":
            if name.strip():
                result[name.strip()] = sub or None
            name, sub = "", ""
        elif depth == 0:
            name += char
        else:
            sub += char
    return result


class _Reset(ConnectionAbortedError):
    """Raised after arming SO_LINGER 0: wsgiref drops the socket quietly and the OS sends RST."""


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def get_environ(self):
        environ = super().get_environ()
        environ["fake.socket"] = self.connection
        return environ


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeMal:
    def __init__(
        self,
        anime: Iterable[FakeAnime],
        *,
        client_id: str = VALID_CLIENT_ID,
        users: dict | None = None,
        empty_last_page: bool = False,
        relations: dict[int, list[tuple[int, str]]] | None = None,
    ):
        self.client_id = client_id
        self.anime: dict[int, FakeAnime] = {}
        for item in anime:
            self.anime[item.node["id"]] = item
        for anime_id, edges in (relations or {}).items():
            self.relate(anime_id, edges)
        self.users = (
            users
            if users is not None
            else json.loads((FIXTURES / "mal_users.json").read_text(encoding="utf-8"))["users"]
        )
        # The quirk of mal-api.md §5: the last page still links a next page, which is empty.
        self.empty_last_page = empty_last_page
        # Host put in paging links; None = our own. Set to MAL's to prove clients ignore it.
        self.link_host: str | None = None
        self.faults: list[Fault] = []
        self._ranking_cache: dict[tuple, list[dict]] = {}
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    @classmethod
    def from_csv(cls, path: str | Path, *, extras: bool = True, **kwargs) -> FakeMal:
        anime = load_csv(path)
        if extras:
            anime += load_fixture_anime()
            kwargs.setdefault("relations", load_fixture_relations())
        return cls(anime, **kwargs)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeMal:
        self._server = make_server(
            "127.0.0.1", 0, self.app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}/v2"
        # Short poll interval: stop() returns fast, which keeps the test suite quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-mal"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeMal:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------

    def fail(self, kind: str, **kwargs) -> Fault:
        fault = Fault(kind=kind, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    def requests_to(self, fragment: str) -> list[LoggedRequest]:
        return [r for r in self.requests if fragment in r.path]

    def relate(self, anime_id: int, edges: Iterable[tuple[int, str]]) -> None:
        """Set ``related_anime`` of a title we serve (edges to unknown ids are kept, as MAL
        relates titles outside any one catalog)."""
        anime = self.anime.get(anime_id)
        if anime is None:
            return
        related = []
        for related_id, kind in edges:
            other = self.anime.get(related_id)
            node = {"id": related_id, "title": other.node["title"] if other else f"#{related_id}"}
            if other and "main_picture" in other.node:
                node["main_picture"] = other.node["main_picture"]
            formatted = kind.replace("_", " ").title()
            related.append(
                {"node": node, "relation_type": kind, "relation_type_formatted": formatted}
            )
        anime.node["related_anime"] = related

    # -- data views --------------------------------------------------------------------

    def visible(self, params: dict[str, str]) -> list[FakeAnime]:
        nsfw = params.get("nsfw", "").lower() == "true"
        return [a for a in self.anime.values() if nsfw or a.node.get("nsfw", "white") == "white"]

    def ranking(self, ranking_type: str, params: dict[str, str]) -> list[dict]:
        # Cached: a walk asks for the same ordering once per page (27 pages for 13.5k titles).
        key = (ranking_type, params.get("nsfw", "").lower() == "true", len(self.anime))
        if key not in self._ranking_cache:
            self._ranking_cache[key] = self._ranking(ranking_type, params)
        return self._ranking_cache[key]

    def _ranking(self, ranking_type: str, params: dict[str, str]) -> list[dict]:
        items = self.visible(params)
        status = {"airing": "currently_airing", "upcoming": "not_yet_aired"}
        if ranking_type in status:
            items = [a for a in items if a.node.get("status") == status[ranking_type]]
        elif ranking_type in ("tv", "ova", "movie", "special"):
            items = [a for a in items if a.node.get("media_type") == ranking_type]
        big = 10**9

        def key(a) -> tuple:
            if ranking_type == "bypopularity":
                return (a.node.get("popularity", big), a.node["id"])
            if ranking_type == "favorite":
                return (-a.node.get("num_favorites", 0), a.node["id"])
            return (a.node.get("rank", big), -a.node.get("mean", 0), a.node["id"])

        items.sort(key=key)
        return [{"node": a, "ranking": {"rank": i}} for i, a in enumerate(items, start=1)]

    def season(self, year: int, season: str, params: dict[str, str]) -> list[dict]:
        items = [
            a
            for a in self.visible(params)
            if a.node.get("start_season") == {"year": year, "season": season}
            or (year, season) in a.carry_over
        ]
        if params.get("sort") == "anime_score":
            items.sort(key=lambda a: (-a.node.get("mean", 0), a.node["id"]))
        else:
            items.sort(key=lambda a: (-a.node.get("num_list_users", 0), a.node["id"]))
        return [{"node": a} for a in items]

    def search(self, q: str, params: dict[str, str]) -> list[dict]:
        needle = q.lower()
        hits = []
        for a in self.visible(params):
            alt = a.node.get("alternative_titles", {})
            names = [
                a.node["title"],
                alt.get("en", ""),
                alt.get("ja", ""),
                *alt.get("synonyms", []),
            ]
            if any(needle in n.lower() for n in names if n):
                hits.append({"node": a})
        return hits

    def user_list(self, user: dict, params: dict[str, str]) -> list[dict]:
        nsfw = params.get("nsfw", "").lower() == "true"
        entries = []
        for entry in user["entries"]:
            anime = self.anime.get(entry["anime_id"])
            if anime is None or (not nsfw and anime.node.get("nsfw", "white") != "white"):
                continue
            if params.get("status") and entry["list_status"]["status"] != params["status"]:
                continue
            entries.append({"node": anime, "list_status": entry["list_status"]})
        sort = params.get("sort", "")
        keys = {
            "list_score": (lambda e: -e["list_status"]["score"], False),
            "list_updated_at": (lambda e: e["list_status"]["updated_at"], True),
            "anime_title": (lambda e: e["node"].node["title"], False),
            "anime_start_date": (lambda e: e["node"].node.get("start_date", ""), True),
            "anime_id": (lambda e: e["node"].node["id"], False),
        }
        if sort in keys:
            key, reverse = keys[sort]
            entries.sort(key=key, reverse=reverse)
        return entries

    def add_big_user(self, name: str = "big_list", size: int = 1200) -> None:
        """A public list longer than one 1000-entry page, all five statuses, some unscored."""
        ids = sorted(self.anime)[:size]
        self.users[name] = {
            "private": False,
            "entries": [
                {
                    "anime_id": anime_id,
                    "list_status": {
                        "status": LIST_STATUSES[i % 5],
                        "score": i % 11,
                        "num_episodes_watched": i % 13,
                        "is_rewatching": False,
                        "updated_at": f"2024-01-01T00:00:{i % 60:02d}+00:00",
                    },
                }
                for i, anime_id in enumerate(ids)
            ],
        }

    # -- WSGI ---------------------------------------------------------------------------

    def app(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        params = dict(parse_qsl(query, keep_blank_values=True))
        with self._lock:
            entry = LoggedRequest(
                number=len(self.requests) + 1,
                path=path + "?" + query,
                params=params,
                client_id=environ.get("HTTP_X_MAL_CLIENT_ID"),
            )
            self.requests.append(entry)
            fault = self._take_fault(entry)
        if fault is not None:
            status, headers, body = self._fault_response(fault, environ, entry)
        else:
            status, headers, body = self.handle(environ, path, params, query)
        entry.status = status
        headers = [("Content-Length", str(len(body))), *headers]
        start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
        return [body]

    def _take_fault(self, entry: LoggedRequest) -> Fault | None:
        for fault in self.faults:
            if fault.times is not None and fault.times <= 0:
                continue
            if fault.at is not None and fault.at != entry.number:
                continue
            if fault.path is not None and fault.path not in entry.path:
                continue
            if fault.times is not None:
                fault.times -= 1
            return fault
        return None

    def _fault_response(self, fault: Fault, environ, entry: LoggedRequest):
        if fault.delay:
            time.sleep(fault.delay)
        if fault.kind == "reset":
            entry.status = "reset"
            sock: socket.socket = environ["fake.socket"]
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raise _Reset()
        json_headers = [("Content-Type", "application/json; charset=UTF-8")]
        if fault.kind == "429":
            headers = json_headers + (
                [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
            )
            return 429, headers, _json(_error("", "too_many_requests"))
        if fault.kind == "403":
            return 403, json_headers, _json(_error("DoS detected", "forbidden"))
        if fault.kind == "500":
            return 500, json_headers, _json(_error("", "internal_server_error"))
        if fault.kind == "502":
            html = (
                b"<html><head><title>502 Bad Gateway</title></head><body><center>"
                b"<h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
            )
            return 502, [("Content-Type", "text/html")], html
        if fault.kind == "503":
            return 503, json_headers, _json(_error("Service Unavailable", "unavailable"))
        if fault.kind == "400":
            return 400, json_headers, _json(_error("invalid offset", "bad_request"))
        if fault.kind == "404":
            return 404, json_headers, _json(_error("", "not_found"))
        if fault.kind == "garbage":
            return 200, [("Content-Type", "text/html")], b"<html>maintenance</html>"
        if fault.kind == "504":
            return 504, [("Content-Type", "text/html")], b""
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    def handle(self, environ, path: str, params: dict[str, str], query: str):
        json_headers = [("Content-Type", "application/json; charset=UTF-8")]

        def reply(status: int, obj: dict):
            return status, json_headers, _json(obj)

        client_id = environ.get("HTTP_X_MAL_CLIENT_ID")
        if not client_id:
            return reply(403, _error("", "forbidden"))
        if client_id != self.client_id:
            return reply(400, _error("Invalid client id", "bad_request"))
        if environ.get("REQUEST_METHOD") != "GET":
            return reply(405, _error("", "method_not_allowed"))
        parts = path.strip("/").split("/")
        if parts[:1] != ["v2"]:
            return reply(404, _error("", "not_found"))
        parts = parts[1:]
        if parts == ["anime", "ranking"]:
            if params.get("ranking_type") not in RANKING_TYPES:
                return reply(400, _error("invalid ranking_type", "bad_request"))
            return self._list(
                reply,
                path,
                query,
                params,
                "ranking",
                lambda: self.ranking(params["ranking_type"], params),
            )
        if len(parts) == 4 and parts[:2] == ["anime", "season"]:
            year, season = parts[2], parts[3]
            if not year.isdigit() or season not in SEASONS:
                return reply(400, _error("invalid season", "bad_request"))
            result = self._list(
                reply, path, query, params, "season", lambda: self.season(int(year), season, params)
            )
            if result[0] == 200:
                body = json.loads(result[2])
                body["season"] = {"year": int(year), "season": season}
                return reply(200, body)
            return result
        if parts == ["anime"]:
            q = params.get("q", "")
            if not 3 <= len(q) <= 64:
                return reply(400, _error("invalid q", "bad_request"))
            return self._list(reply, path, query, params, "search", lambda: self.search(q, params))
        if len(parts) == 2 and parts[0] == "anime":
            anime = self.anime.get(int(parts[1])) if parts[1].isdigit() else None
            if anime is None:
                return reply(404, _error("", "not_found"))
            return reply(200, self._node(anime, params.get("fields"), detail=True))
        if len(parts) == 3 and parts[0] == "users" and parts[2] == "animelist":
            user = self.users.get(parts[1])
            if user is None:
                return reply(404, _error("", "not_found"))
            if user.get("private") or parts[1] == "@me":
                return reply(403, _error("", "forbidden"))
            if params.get("status") and params["status"] not in LIST_STATUSES:
                return reply(400, _error("invalid status", "bad_request"))
            return self._list(
                reply, path, query, params, "animelist", lambda: self.user_list(user, params)
            )
        return reply(404, _error("", "not_found"))

    def _list(self, reply, path: str, query: str, params: dict[str, str], kind: str, items):
        try:
            limit = int(params.get("limit", "100"))
            offset = int(params.get("offset", "0"))
        except ValueError:
            return reply(400, _error("invalid limit or offset", "bad_request"))
        if not 1 <= limit <= MAX_LIMITS[kind] or offset < 0:
            return reply(400, _error(f"invalid limit (max {MAX_LIMITS[kind]})", "bad_request"))
        rows = items()
        page = rows[offset : offset + limit]
        fields = parse_fields(params.get("fields"))
        data = []
        for row in page:
            item = {"node": self._node(row["node"], params.get("fields"), detail=False)}
            if "ranking" in row:
                item["ranking"] = row["ranking"]
            if "list_status" in row and "list_status" in fields:
                item["list_status"] = self._list_status(row["list_status"], fields["list_status"])
            data.append(item)
        paging = {}
        if offset > 0:
            paging["previous"] = self._link(path, query, max(offset - limit, 0))
        has_more = offset + limit < len(rows)
        if has_more or (self.empty_last_page and page):
            paging["next"] = self._link(path, query, offset + limit)
        return reply(200, {"data": data, "paging": paging})

    def _link(self, path: str, query: str, offset: int) -> str:
        pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "offset"]
        host = self.link_host or self.base_url.rsplit("/v2", 1)[0]
        return f"{host}{path}?{urlencode([('offset', offset), *pairs])}"

    def _node(self, anime: FakeAnime, raw_fields: str | None, *, detail: bool) -> dict:
        wanted = parse_fields(raw_fields)
        allowed = LIST_FIELDS | (DETAIL_ONLY_FIELDS if detail else frozenset())
        node = {"id": anime.node["id"]}
        for name in wanted:
            if name in allowed and name in anime.node and name != "id":
                node[name] = anime.node[name]
        return node

    @staticmethod
    def _list_status(status: dict, sub_fields: str | None) -> dict:
        base = {
            "status",
            "score",
            "num_episodes_watched",
            "is_rewatching",
            "updated_at",
            "start_date",
            "finish_date",
        }
        extra = set(parse_fields(sub_fields)) if sub_fields else set()
        return {k: v for k, v in status.items() if k in base or k in extra}
