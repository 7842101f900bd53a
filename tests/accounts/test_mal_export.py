"""Parsing MAL's export safely, and writing it back (no database)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from accounts.mal_export import ExportRow, MalExportError, parse_export, render_csv, render_xml

from .mal_xml import gzipped, mal_export_xml

CAP = 1024 * 1024
ENTRIES = [
    {"mal_id": 1, "title": "Cowboy Bebop", "status": "completed", "score": 9, "episodes": 26},
    {"mal_id": 6, "title": "星の欠片 & <Special>", "status": "plan_to_watch", "score": 0},
    {"mal_id": 30, "title": "Evangelion", "status": "on_hold", "score": 7, "episodes": 3},
    {"mal_id": 32, "title": "End of Eva", "status": "dropped", "score": 2, "episodes": 1},
    {"mal_id": 5, "title": "Tengoku", "status": "watching", "score": 0, "episodes": 0},
]


def test_parses_mals_exact_format_plain_and_gzipped():
    xml = mal_export_xml(ENTRIES)
    for data in (xml, gzipped(xml)):
        parsed = parse_export(data, max_xml_bytes=CAP)
        got = {e.mal_id: (e.status, e.score, e.episodes_watched) for e in parsed.entries}
        assert got == {
            1: ("completed", 9, 26),
            6: ("plan_to_watch", None, 0),  # my_score 0 = not scored
            30: ("on_hold", 7, 3),
            32: ("dropped", 2, 1),
            5: ("watching", None, 0),
        }
        assert parsed.user_name == "example_user"
        assert next(e for e in parsed.entries if e.mal_id == 6).title == "星の欠片 & <Special>"


def test_the_docs_sample_parses():
    # mal-api.md §8's own example, with tags in a different order and an id-0 entry.
    sample = b"""<?xml version="1.0" encoding="UTF-8" ?>
<myanimelist>
  <myinfo><user_id>1</user_id><user_name>x</user_name><user_export_type>1</user_export_type></myinfo>
  <anime><my_status>Completed</my_status><my_score>9</my_score>
    <series_animedb_id>90001</series_animedb_id><my_watched_episodes>12</my_watched_episodes>
    <update_on_import>1</update_on_import></anime>
  <anime><series_animedb_id>0</series_animedb_id><my_status>Completed</my_status></anime>
  <anime><series_animedb_id>90002</series_animedb_id><my_status>Plan to Watch</my_status>
    <my_score>0</my_score><update_on_import>0</update_on_import></anime>
</myanimelist>"""
    parsed = parse_export(sample, max_xml_bytes=CAP)
    assert [(e.mal_id, e.status, e.score) for e in parsed.entries] == [
        (90001, "completed", 9),
        (90002, "plan_to_watch", None),
    ]
    assert parsed.skipped == 1
    assert parsed.entries[1].update_on_import is False


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"<myanimelist><anime>", "not well-formed"),
        (b"<html><body>hello</body></html>", "not a MyAnimeList export"),
        (b"id,title\n1,Bebop\n", "not well-formed"),
        (
            b"<myanimelist><myinfo><user_export_type>2</user_export_type></myinfo>"
            b"<manga><manga_mangadb_id>1</manga_mangadb_id></manga></myanimelist>",
            "manga list",
        ),
        (
            b"<myanimelist><anime><series_animedb_id>1</series_animedb_id>"
            b"<my_status>Completed</my_status><my_score>11</my_score></anime></myanimelist>",
            "my_score 11 is out of range",
        ),
        (
            b"<myanimelist><anime><series_animedb_id>1</series_animedb_id>"
            b"<my_status>Binging</my_status></anime></myanimelist>",
            "unknown my_status 'Binging'",
        ),
        (
            b"<myanimelist><anime><series_animedb_id>abc</series_animedb_id></anime></myanimelist>",
            "is not a number",
        ),
        (b"\x1f\x8bnot really gzip", "cannot be unpacked"),
    ],
)
def test_bad_files_get_a_clear_message(data, message):
    with pytest.raises(MalExportError, match=message):
        parse_export(data, max_xml_bytes=CAP)


def test_entity_expansion_and_dtds_are_refused():
    billion_laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<myanimelist>&lol2;</myanimelist>"
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<myanimelist><anime><series_title>&xxe;</series_title></anime></myanimelist>"
    )
    for data in (billion_laughs, external):
        with pytest.raises(MalExportError, match="DTD or entities"):
            parse_export(data, max_xml_bytes=CAP)


def test_gzip_bomb_stops_at_the_cap():
    # 64 MB of zeros packs into ~64 KB; inflating is stopped at the 1 MB cap.
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(MalExportError, match="larger than 1 MB"):
        parse_export(bomb, max_xml_bytes=CAP)


def test_oversized_plain_xml_is_refused():
    with pytest.raises(MalExportError, match="larger than"):
        parse_export(b"<myanimelist>" + b" " * CAP + b"</myanimelist>", max_xml_bytes=CAP)


def _rows():
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    return [
        ExportRow(1, "Cowboy Bebop", "tv", 26, "completed", 9, 26, False, when),
        ExportRow(6, "Odd ]]> title & <x>", "movie", 1, "plan_to_watch", None, 0, False, when),
        ExportRow(30, "=cmd()", "tv", 26, "", None, 0, True, when),  # not interested only
    ]


def test_render_xml_round_trips_through_the_parser():
    xml = render_xml(user_name="alice", user_id=7, rows=_rows())
    assert b"<user_total_anime>2</user_total_anime>" in xml
    assert b"<user_total_completed>1</user_total_completed>" in xml
    parsed = parse_export(xml, max_xml_bytes=CAP)
    assert parsed.user_name == "alice"
    assert [(e.mal_id, e.title, e.status, e.score) for e in parsed.entries] == [
        (1, "Cowboy Bebop", "completed", 9),
        (6, "Odd ]]> title & <x>", "plan_to_watch", None),
    ]


def test_render_csv_escapes_formulas():
    lines = render_csv(_rows()).splitlines()
    assert lines[0] == "mal_id,title,status,score,episodes_watched,not_interested,updated_at"
    assert lines[1] == "1,Cowboy Bebop,completed,9,26,false,2025-01-02T03:04:05+00:00"
    assert lines[3].startswith("30,'=cmd(),,,0,true")
