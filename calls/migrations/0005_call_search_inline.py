"""Keep search documents inline, lz4-compressed, in calls_search_document's own pages (PostgreSQL only).

Ranking and phrase checks read the documents of a few hundred calls per search. Out of line (TOAST, the
default for values over 2 kB), each read is an extra index lookup and chunk fetch: measured on 50,000
seeded calls, 15-35 ms per 1,000 documents, against 8-12 ms inline. Documents average about 3 kB
compressed, so two to a page; the GIN index and the (org, start) columns are unaffected.
The UPDATE rewrites the existing documents under the new storage (about 15 s per 50,000 calls) and leaves
as many dead rows: run `VACUUM ANALYZE calls_search_document` after migrating a large database (a migration
runs in a transaction, where VACUUM cannot), or let autovacuum get to it.
"""

from django.db import migrations

PG_FORWARD = [
    "ALTER TABLE calls_search_document ALTER COLUMN document SET STORAGE MAIN",
    # Existing values keep their old form until rewritten; concatenating nothing makes a new value.
    "UPDATE calls_search_document SET document = document || ''::tsvector",
    "ANALYZE calls_search_document",
]

PG_BACKWARD = [
    "ALTER TABLE calls_search_document ALTER COLUMN document SET STORAGE EXTENDED",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        with schema_editor.connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0004_call_search_order"),
    ]

    operations = [
        migrations.RunPython(_run({"postgresql": PG_FORWARD}), _run({"postgresql": PG_BACKWARD})),
    ]
