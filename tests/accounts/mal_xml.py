"""Builds files in MyAnimeList's exact export format (mal-api.md §8), as MAL writes them."""

from __future__ import annotations

import gzip

STATUS_LABEL = {
    "watching": "Watching",
    "completed": "Completed",
    "on_hold": "On-Hold",
    "dropped": "Dropped",
    "plan_to_watch": "Plan to Watch",
}


def mal_export_xml(entries: list[dict], *, user_name: str = "example_user") -> bytes:
    """``entries``: dicts with mal_id, title, status, score (0 = none), episodes, and
    optionally series_type, update_on_import. Tags in MAL's order, CDATA where MAL uses it."""
    totals = {s: sum(1 for e in entries if e["status"] == s) for s in STATUS_LABEL}
    parts = [
        '<?xml version="1.0" encoding="UTF-8" ?>\n',
        "\t\t<!--\n Created by XML Export feature at MyAnimeList.net\n Version 1.1.0\n -->\n\n",
        "\t\t<myanimelist>\n\n\t\t\t<myinfo>\n",
        "\t\t\t\t<user_id>1234567</user_id>\n",
        f"\t\t\t\t<user_name>{user_name}</user_name>\n",
        "\t\t\t\t<user_export_type>1</user_export_type>\n",
        f"\t\t\t\t<user_total_anime>{len(entries)}</user_total_anime>\n",
        f"\t\t\t\t<user_total_watching>{totals['watching']}</user_total_watching>\n",
        f"\t\t\t\t<user_total_completed>{totals['completed']}</user_total_completed>\n",
        f"\t\t\t\t<user_total_onhold>{totals['on_hold']}</user_total_onhold>\n",
        f"\t\t\t\t<user_total_dropped>{totals['dropped']}</user_total_dropped>\n",
        f"\t\t\t\t<user_total_plantowatch>{totals['plan_to_watch']}</user_total_plantowatch>\n",
        "\t\t\t</myinfo>\n\n",
    ]
    for e in entries:
        parts.append(
            "\t\t\t\t<anime>\n"
            f"\t\t\t\t\t<series_animedb_id>{e['mal_id']}</series_animedb_id>\n"
            f"\t\t\t\t\t<series_title><![CDATA[{e.get('title', '')}]]></series_title>\n"
            f"\t\t\t\t\t<series_type>{e.get('series_type', 'TV')}</series_type>\n"
            f"\t\t\t\t\t<series_episodes>{e.get('series_episodes', 12)}</series_episodes>\n"
            "\t\t\t\t\t<my_id>0</my_id>\n"
            f"\t\t\t\t\t<my_watched_episodes>{e.get('episodes', 0)}</my_watched_episodes>\n"
            "\t\t\t\t\t<my_start_date>0000-00-00</my_start_date>\n"
            "\t\t\t\t\t<my_finish_date>0000-00-00</my_finish_date>\n"
            "\t\t\t\t\t<my_rated></my_rated>\n"
            f"\t\t\t\t\t<my_score>{e.get('score', 0)}</my_score>\n"
            "\t\t\t\t\t<my_storage></my_storage>\n"
            "\t\t\t\t\t<my_storage_value>0.00</my_storage_value>\n"
            f"\t\t\t\t\t<my_status>{STATUS_LABEL[e['status']]}</my_status>\n"
            "\t\t\t\t\t<my_comments><![CDATA[]]></my_comments>\n"
            "\t\t\t\t\t<my_times_watched>0</my_times_watched>\n"
            "\t\t\t\t\t<my_rewatch_value></my_rewatch_value>\n"
            "\t\t\t\t\t<my_priority>LOW</my_priority>\n"
            "\t\t\t\t\t<my_tags><![CDATA[]]></my_tags>\n"
            "\t\t\t\t\t<my_rewatching>0</my_rewatching>\n"
            "\t\t\t\t\t<my_rewatching_ep>0</my_rewatching_ep>\n"
            f"\t\t\t\t\t<update_on_import>{e.get('update_on_import', 1)}</update_on_import>\n"
            "\t\t\t\t</anime>\n\n"
        )
    parts.append("\t\t\t</myanimelist>\n")
    return "".join(parts).encode("utf-8")


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)
