"""Search: normalised names in search_text; on PostgreSQL pg_trgm and two GIN indexes.

The indexes are created with SQL on PostgreSQL only (SQLite has neither GIN nor pg_trgm)
and are not part of the model state, so SQLite table rebuilds never try to recreate them.
The full-text index expression is exactly what ``SearchVector("search_text",
config="simple")`` compiles to, so the planner uses it.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import DatabaseError, migrations, transaction

INDEXES = [
    (
        "catalog_anime_search_trgm",
        "CREATE INDEX IF NOT EXISTS catalog_anime_search_trgm ON catalog_anime "
        "USING gin (search_text gin_trgm_ops)",
    ),
    (
        "catalog_anime_search_fts",
        "CREATE INDEX IF NOT EXISTS catalog_anime_search_fts ON catalog_anime "
        "USING gin (to_tsvector('simple'::regconfig, COALESCE(search_text, '')))",
    ),
]


def renormalise_search_text(apps, schema_editor):
    from catalog.records import search_text_of

    Anime = apps.get_model("catalog", "Anime")
    batch = []
    for anime in Anime.objects.only(
        "mal_id", "title", "title_english", "title_japanese", "synonyms"
    ).iterator(chunk_size=2000):
        anime.search_text = search_text_of(
            [anime.title, anime.title_english, anime.title_japanese, *(anime.synonyms or [])]
        )
        batch.append(anime)
        if len(batch) >= 2000:
            Anime.objects.bulk_update(batch, ["search_text"])
            batch = []
    Anime.objects.bulk_update(batch, ["search_text"])


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _, sql in INDEXES:
        schema_editor.execute(sql)
    # The planner prices %> like a cheap operator and scans 13k rows instead of using the
    # trigram index (170 ms vs 10 ms). Its real cost is that of computing a similarity.
    # Only the extension's owner may change it; without that, search is slower, not wrong.
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute(
                "ALTER FUNCTION word_similarity_commutator_op(text, text) COST 50"
            )
    except DatabaseError:
        pass


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, _ in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_sync_run_heartbeat_plan_one_per_mode")]

    operations = [
        TrigramExtension(),  # a no-op on SQLite
        migrations.RunPython(renormalise_search_text, migrations.RunPython.noop),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
