"""Search: store each name with a trailing "(TV)", "(2011)"... also without it (issue 23).

Data only: ``search_text`` is rebuilt with today's ``records.search_text_of`` (as 0003
did), so "jujutsu kaisen" is an exact name of Jujutsu Kaisen (TV) on existing catalogs
too; new and synced titles get it from the upsert. The GIN indexes follow the column.
"""

from django.db import migrations


def rebuild_search_text(apps, schema_editor):
    from catalog.records import search_text_of

    Anime = apps.get_model("catalog", "Anime")
    batch = []
    for anime in Anime.objects.only(
        "mal_id", "title", "title_english", "title_japanese", "synonyms", "search_text"
    ).iterator(chunk_size=2000):
        text = search_text_of(
            [anime.title, anime.title_english, anime.title_japanese, *(anime.synonyms or [])]
        )
        if text != anime.search_text:  # only the ~400 titles with a qualifier change
            anime.search_text = text
            batch.append(anime)
        if len(batch) >= 2000:
            Anime.objects.bulk_update(batch, ["search_text"])
            batch = []
    Anime.objects.bulk_update(batch, ["search_text"])


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_sync_run_lifecycle")]

    # Reversing leaves the extra names: they only widen the exact tier.
    operations = [migrations.RunPython(rebuild_search_text, migrations.RunPython.noop)]
