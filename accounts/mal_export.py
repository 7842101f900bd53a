"""MyAnimeList's list export format (``mal-api.md`` §8): safe parsing and writing.

Parsing takes untrusted bytes: gzip is detected by its magic bytes and inflated only up to a
cap (a gzip bomb stops at the cap), the XML goes through ``defusedxml`` (no DTDs, entities or
external references), and anything that is not an anime-list export is refused with a
message that says why. Plain Python, no Django: the caller passes the caps.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

GZIP_MAGIC = b"\x1f\x8b"
# MAL's labels, and the numeric codes old exports (and some third-party tools) write.
STATUS_FROM_XML = {
    "watching": "watching",
    "completed": "completed",
    "on-hold": "on_hold",
    "on hold": "on_hold",
    "dropped": "dropped",
    "plan to watch": "plan_to_watch",
    "1": "watching",
    "2": "completed",
    "3": "on_hold",
    "4": "dropped",
    "6": "plan_to_watch",
}
STATUS_TO_XML = {
    "watching": "Watching",
    "completed": "Completed",
    "on_hold": "On-Hold",
    "dropped": "Dropped",
    "plan_to_watch": "Plan to Watch",
}
TOTAL_TAGS = {
    "watching": "user_total_watching",
    "completed": "user_total_completed",
    "on_hold": "user_total_onhold",
    "dropped": "user_total_dropped",
    "plan_to_watch": "user_total_plantowatch",
}
SERIES_TYPE = {
    "tv": "TV",
    "ova": "OVA",
    "movie": "Movie",
    "special": "Special",
    "ona": "ONA",
    "music": "Music",
    "cm": "CM",
    "pv": "PV",
    "tv_special": "TV Special",
}


class MalExportError(ValueError):
    """The upload cannot be imported; the message is meant for the member."""


@dataclass
class ExportEntry:
    mal_id: int
    title: str
    status: str
    score: int | None
    episodes_watched: int
    update_on_import: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ParsedExport:
    user_name: str
    entries: list[ExportEntry]
    skipped: int  # entries with series_animedb_id 0


def _inflated(data: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of the upload's XML: gunzipped when it starts with gzip's
    magic bytes (read(n) inflates at most n bytes: a bomb is stopped at the cap, not in
    memory)."""
    if data[:2] != GZIP_MAGIC:
        return data[:limit]
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            return gz.read(limit)
    except (OSError, EOFError, zlib.error) as exc:
        raise MalExportError(f"The file looks gzipped but cannot be unpacked ({exc}).") from None


def read_upload(data: bytes, *, max_xml_bytes: int) -> bytes:
    """The XML bytes of an upload: gunzipped when it starts with gzip's magic bytes."""
    if data[:2] != GZIP_MAGIC:
        if len(data) > max_xml_bytes:
            raise MalExportError(f"The file is larger than {max_xml_bytes // 2**20} MB.")
        return data
    xml = _inflated(data, max_xml_bytes + 1)
    if len(xml) > max_xml_bytes:
        raise MalExportError(
            f"The unpacked file is larger than {max_xml_bytes // 2**20} MB; "
            "a MyAnimeList export is far smaller."
        )
    return xml


_HEAD_BYTES = 64 * 1024
# The first element after an optional BOM, XML declaration and comments: a cheap look at the
# root without parsing the file.
_ROOT_TAG = re.compile(
    rb"(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>)?(?:\s*<!--.*?-->)*\s*<([A-Za-z_][\w.:-]*)", re.S
)


def upload_check(data: bytes) -> None:
    """Refuse what is plainly not an export, reading only the first few KB (the request's
    check; the whole file is parsed later, by the import task). Raises MalExportError."""
    head = _inflated(data, _HEAD_BYTES)
    if not head.strip():
        raise MalExportError("The file is empty.")
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise MalExportError(
            "The file is not XML: upload MyAnimeList's export (.xml or .xml.gz) as downloaded."
        )
    match = _ROOT_TAG.match(head)
    if match and match.group(1) != b"myanimelist":
        raise MalExportError(
            f"This is not a MyAnimeList export: the root element is "
            f"<{match.group(1).decode('ascii', 'replace')}>, expected <myanimelist>."
        )


def _text(el: Element, tag: str) -> str:
    child = el.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _int(value: str, *, what: str, where: str, low: int = 0, high: int | None = None) -> int:
    try:
        number = int(value or "0")
    except ValueError:
        raise MalExportError(f"{where}: {what} {value!r} is not a number.") from None
    if number < low or (high is not None and number > high):
        bound = f"{low} to {high}" if high is not None else f"at least {low}"
        raise MalExportError(f"{where}: {what} {number} is out of range ({bound}).")
    return number


def parse_export(
    data: bytes, *, max_xml_bytes: int, max_entries: int | None = None
) -> ParsedExport:
    """Parse a MAL anime-list export (``.xml`` or ``.xml.gz`` bytes) or raise MalExportError.

    Entries are keyed on ``series_animedb_id`` (titles are display-only); id 0 is skipped
    and counted; a title listed twice keeps its last entry. Tag order does not matter.
    More than ``max_entries`` <anime> elements is refused (MAL lists stay far below it).
    """
    xml = read_upload(data, max_xml_bytes=max_xml_bytes)
    if not xml.strip():
        raise MalExportError("The file is empty.")
    try:
        root = fromstring(xml, forbid_dtd=True)
    except DefusedXmlException:
        raise MalExportError(
            "The file declares a DTD or entities, which a MyAnimeList export never does; "
            "refused for safety."
        ) from None
    except ParseError as exc:
        raise MalExportError(f"The file is not well-formed XML ({exc}).") from None
    if root.tag != "myanimelist":
        raise MalExportError(
            f"This is not a MyAnimeList export: the root element is <{root.tag}>, "
            "expected <myanimelist>."
        )
    info = root.find("myinfo")
    export_type = _text(info, "user_export_type") if info is not None else ""
    if export_type == "2" or root.find("manga") is not None:
        raise MalExportError("This is a manga list export; export your anime list instead.")
    if export_type not in ("", "1"):
        raise MalExportError(f"Unknown export type {export_type!r}: expected 1 (anime list).")
    by_id: dict[int, ExportEntry] = {}
    skipped = 0
    for n, node in enumerate(root.iter("anime"), start=1):
        if max_entries is not None and n > max_entries:
            raise MalExportError(
                f"The export lists more than {max_entries:,} titles; the limit is "
                f"{max_entries:,}. Nothing was imported."
            )
        where = f"Entry {n}"
        mal_id = _int(_text(node, "series_animedb_id"), what="series_animedb_id", where=where)
        if mal_id == 0:
            skipped += 1
            continue
        where = f"Entry {n} (anime id {mal_id})"
        raw_status = _text(node, "my_status")
        status = STATUS_FROM_XML.get(raw_status.lower())
        if status is None:
            raise MalExportError(f"{where}: unknown my_status {raw_status!r}.")
        score = _int(_text(node, "my_score"), what="my_score", where=where, high=10)
        by_id[mal_id] = ExportEntry(
            mal_id=mal_id,
            title=_text(node, "series_title")[:500],
            status=status,
            score=score or None,  # 0 means not scored
            episodes_watched=_int(
                _text(node, "my_watched_episodes"), what="my_watched_episodes", where=where
            ),
            update_on_import=_text(node, "update_on_import") != "0",
        )
    return ParsedExport(
        user_name=_text(info, "user_name") if info is not None else "",
        entries=list(by_id.values()),
        skipped=skipped,
    )


# -- writing ------------------------------------------------------------------------------


@dataclass
class ExportRow:
    mal_id: int
    title: str
    media_type: str
    num_episodes: int | None
    status: str
    score: int | None
    episodes_watched: int
    not_interested: bool
    updated_at: datetime


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: split it across two sections.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_xml(*, user_name: str, user_id: int, rows: Iterable[ExportRow]) -> bytes:
    """The list in MAL's export format (so MAL's own importer and other tools accept it).
    Entries without a status (only "not interested") are not MAL list entries: left out."""
    rows = [r for r in rows if r.status in STATUS_TO_XML]
    totals = {s: sum(1 for r in rows if r.status == s) for s in TOTAL_TAGS}
    out = io.StringIO()
    w = out.write
    w('<?xml version="1.0" encoding="UTF-8" ?>\n')
    w("<!--\n Created by Animender, in the format of MyAnimeList's XML Export (1.1.0)\n-->\n")
    w("<myanimelist>\n\n\t<myinfo>\n")
    w(f"\t\t<user_id>{int(user_id)}</user_id>\n")
    w(f"\t\t<user_name>{_cdata(user_name)}</user_name>\n")
    w("\t\t<user_export_type>1</user_export_type>\n")
    w(f"\t\t<user_total_anime>{len(rows)}</user_total_anime>\n")
    for status, tag in TOTAL_TAGS.items():
        w(f"\t\t<{tag}>{totals[status]}</{tag}>\n")
    w("\t</myinfo>\n\n")
    for r in rows:
        w("\t<anime>\n")
        w(f"\t\t<series_animedb_id>{int(r.mal_id)}</series_animedb_id>\n")
        w(f"\t\t<series_title>{_cdata(r.title)}</series_title>\n")
        w(f"\t\t<series_type>{SERIES_TYPE.get(r.media_type, 'Unknown')}</series_type>\n")
        w(f"\t\t<series_episodes>{int(r.num_episodes or 0)}</series_episodes>\n")
        w("\t\t<my_id>0</my_id>\n")
        w(f"\t\t<my_watched_episodes>{int(r.episodes_watched)}</my_watched_episodes>\n")
        w("\t\t<my_start_date>0000-00-00</my_start_date>\n")
        w("\t\t<my_finish_date>0000-00-00</my_finish_date>\n")
        w("\t\t<my_rated></my_rated>\n")
        w(f"\t\t<my_score>{int(r.score or 0)}</my_score>\n")
        w("\t\t<my_storage></my_storage>\n\t\t<my_storage_value>0.00</my_storage_value>\n")
        w(f"\t\t<my_status>{STATUS_TO_XML[r.status]}</my_status>\n")
        w(f"\t\t<my_comments>{_cdata('')}</my_comments>\n")
        w("\t\t<my_times_watched>0</my_times_watched>\n")
        w("\t\t<my_rewatch_value></my_rewatch_value>\n")
        w("\t\t<my_priority>LOW</my_priority>\n")
        w(f"\t\t<my_tags>{_cdata('')}</my_tags>\n")
        w("\t\t<my_rewatching>0</my_rewatching>\n\t\t<my_rewatching_ep>0</my_rewatching_ep>\n")
        w("\t\t<update_on_import>1</update_on_import>\n")
        w("\t</anime>\n\n")
    w("</myanimelist>\n")
    return out.getvalue().encode("utf-8")


CSV_COLUMNS = (
    "mal_id",
    "title",
    "status",
    "score",
    "episodes_watched",
    "not_interested",
    "updated_at",
)


def render_csv(rows: Iterable[ExportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        title = r.title
        if title[:1] in ("=", "+", "-", "@"):
            title = "'" + title  # spreadsheets would run a title starting with = as a formula
        writer.writerow(
            [
                r.mal_id,
                title,
                r.status,
                "" if r.score is None else r.score,
                r.episodes_watched,
                "true" if r.not_interested else "false",
                r.updated_at.isoformat(),
            ]
        )
    return out.getvalue()
