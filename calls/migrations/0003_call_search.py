"""Full-text search structures for calls (see calls/search.py), kept in the database and current by triggers.

Triggers rather than Python hooks, because calls and segments are also written in bulk (seed_demo's COPY,
bulk_create in tests and imports) where no model signal runs. PostgreSQL and SQLite get their own
structures; other databases get none (calls/search.py supports these two).

PostgreSQL: calls_search_document (call_id, document tsvector: title weight A, transcript weight B), GIN index.
  - a statement inserting calls adds their documents (with any segments already there: FKs are deferred);
  - a title change replaces the weight-A part of the document, the transcript part is kept as it is;
  - a statement inserting segments appends their text, one to_tsvector per call and statement;
  - a statement updating or deleting segments rebuilds the documents of the calls it touched;
  - deleting or truncating calls removes their documents (no foreign key, so that the TRUNCATE of a test
    flush, which lists only Django's tables, is not refused).
  The backfill builds a document for every existing call (about 100 s per 50,000 seeded calls).

SQLite: FTS5 tables calls_call_fts (call_id, title) and calls_segment_fts (external content over
calls_transcriptsegment, rowid = segment id), with row triggers, and a backfill.
"""

from django.db import migrations

CONFIG = "english"

# One call's whole document, from its title and its segments as they are now.
PG_BUILD = f"""
CREATE FUNCTION calls_search_build(call_ids uuid[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO calls_search_document (call_id, document)
    SELECT c.id,
           setweight(to_tsvector('{CONFIG}', c.title), 'A')
           || setweight(to_tsvector('{CONFIG}', coalesce(t.body, '')), 'B')
    FROM calls_call c
    LEFT JOIN LATERAL (
        SELECT string_agg(s.text, ' ' ORDER BY s.position) AS body
        FROM calls_transcriptsegment s WHERE s.call_id = c.id
    ) t ON true
    WHERE c.id = ANY(call_ids)
    ON CONFLICT (call_id) DO UPDATE SET document = EXCLUDED.document
$$
"""

PG_FORWARD = [
    """
    CREATE TABLE calls_search_document (
        call_id uuid PRIMARY KEY,
        document tsvector NOT NULL
    )
    """,
    # lz4 decompresses several times faster than pglz when ranking reads documents; not every build has it.
    """
    DO $$ BEGIN
        ALTER TABLE calls_search_document ALTER COLUMN document SET COMPRESSION lz4;
    EXCEPTION WHEN OTHERS THEN NULL;
    END $$
    """,
    "CREATE INDEX calls_search_document_gin ON calls_search_document USING gin (document)",
    PG_BUILD,
    # The ids of the calls whose document matches. Sequential scans are off inside: the planner does not
    # count the cost of reading (detoasting) every document, which a scan does and the GIN index does not.
    """
    CREATE FUNCTION calls_search_ids(query tsquery) RETURNS SETOF uuid
        LANGUAGE sql STABLE ROWS 1000 SET enable_seqscan = off
    AS $$ SELECT call_id FROM calls_search_document WHERE document @@ query $$
    """,
    """
    CREATE FUNCTION calls_search_calls_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM calls_search_build(ARRAY(SELECT id FROM new_calls));
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER calls_search_calls_inserted AFTER INSERT ON calls_call
        REFERENCING NEW TABLE AS new_calls FOR EACH STATEMENT EXECUTE FUNCTION calls_search_calls_inserted()
    """,
    f"""
    CREATE FUNCTION calls_search_title_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE calls_search_document
           SET document = setweight(to_tsvector('{CONFIG}', NEW.title), 'A') || ts_filter(document, '{{b}}')
         WHERE call_id = NEW.id;
        IF NOT FOUND THEN
            PERFORM calls_search_build(ARRAY[NEW.id]);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER calls_search_title_changed AFTER UPDATE OF title ON calls_call
        FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title) EXECUTE FUNCTION calls_search_title_changed()
    """,
    """
    CREATE FUNCTION calls_search_calls_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM calls_search_document WHERE call_id IN (SELECT id FROM old_calls);
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER calls_search_calls_deleted AFTER DELETE ON calls_call
        REFERENCING OLD TABLE AS old_calls FOR EACH STATEMENT EXECUTE FUNCTION calls_search_calls_deleted()
    """,
    """
    CREATE FUNCTION calls_search_calls_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        TRUNCATE calls_search_document;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER calls_search_calls_truncated AFTER TRUNCATE ON calls_call
        FOR EACH STATEMENT EXECUTE FUNCTION calls_search_calls_truncated()
    """,
    # A document without a row yet (its call is inserted later in the same transaction) is built then.
    f"""
    CREATE FUNCTION calls_search_segments_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE calls_search_document d
           SET document = d.document || setweight(to_tsvector('{CONFIG}', n.body), 'B')
          FROM (
              SELECT call_id, string_agg(text, ' ' ORDER BY position) AS body
              FROM new_segments GROUP BY call_id
          ) n
         WHERE d.call_id = n.call_id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER calls_search_segments_inserted AFTER INSERT ON calls_transcriptsegment
        REFERENCING NEW TABLE AS new_segments FOR EACH STATEMENT EXECUTE FUNCTION calls_search_segments_inserted()
    """,
    """
    CREATE FUNCTION calls_search_segments_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM calls_search_build(ARRAY(SELECT call_id FROM old_segments UNION SELECT call_id FROM new_segments));
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER calls_search_segments_updated AFTER UPDATE ON calls_transcriptsegment
        REFERENCING OLD TABLE AS old_segments NEW TABLE AS new_segments
        FOR EACH STATEMENT EXECUTE FUNCTION calls_search_segments_updated()
    """,
    """
    CREATE FUNCTION calls_search_segments_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM calls_search_build(ARRAY(SELECT DISTINCT call_id FROM old_segments));
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER calls_search_segments_deleted AFTER DELETE ON calls_transcriptsegment
        REFERENCING OLD TABLE AS old_segments FOR EACH STATEMENT EXECUTE FUNCTION calls_search_segments_deleted()
    """,
    """
    CREATE FUNCTION calls_search_segments_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE calls_search_document SET document = ts_filter(document, '{a}');
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER calls_search_segments_truncated AFTER TRUNCATE ON calls_transcriptsegment
        FOR EACH STATEMENT EXECUTE FUNCTION calls_search_segments_truncated()
    """,
    "SELECT calls_search_build(ARRAY(SELECT id FROM calls_call))",
    "ANALYZE calls_search_document",
]

PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS calls_search_calls_inserted ON calls_call",
    "DROP TRIGGER IF EXISTS calls_search_title_changed ON calls_call",
    "DROP TRIGGER IF EXISTS calls_search_calls_deleted ON calls_call",
    "DROP TRIGGER IF EXISTS calls_search_calls_truncated ON calls_call",
    "DROP TRIGGER IF EXISTS calls_search_segments_inserted ON calls_transcriptsegment",
    "DROP TRIGGER IF EXISTS calls_search_segments_updated ON calls_transcriptsegment",
    "DROP TRIGGER IF EXISTS calls_search_segments_deleted ON calls_transcriptsegment",
    "DROP TRIGGER IF EXISTS calls_search_segments_truncated ON calls_transcriptsegment",
    "DROP FUNCTION IF EXISTS calls_search_calls_inserted()",
    "DROP FUNCTION IF EXISTS calls_search_title_changed()",
    "DROP FUNCTION IF EXISTS calls_search_calls_deleted()",
    "DROP FUNCTION IF EXISTS calls_search_calls_truncated()",
    "DROP FUNCTION IF EXISTS calls_search_segments_inserted()",
    "DROP FUNCTION IF EXISTS calls_search_segments_updated()",
    "DROP FUNCTION IF EXISTS calls_search_segments_deleted()",
    "DROP FUNCTION IF EXISTS calls_search_segments_truncated()",
    "DROP FUNCTION IF EXISTS calls_search_ids(tsquery)",
    "DROP FUNCTION IF EXISTS calls_search_build(uuid[])",
    "DROP TABLE IF EXISTS calls_search_document",
]

TOKENIZE = "tokenize = 'porter unicode61 remove_diacritics 2'"

SQLITE_FORWARD = [
    f"CREATE VIRTUAL TABLE calls_call_fts USING fts5(call_id UNINDEXED, title, {TOKENIZE})",
    f"""
    CREATE VIRTUAL TABLE calls_segment_fts USING fts5(
        text, content = 'calls_transcriptsegment', content_rowid = 'id', {TOKENIZE}
    )
    """,
    """
    CREATE TRIGGER calls_call_fts_insert AFTER INSERT ON calls_call BEGIN
        INSERT INTO calls_call_fts (call_id, title) VALUES (new.id, new.title);
    END
    """,
    """
    CREATE TRIGGER calls_call_fts_update AFTER UPDATE OF title ON calls_call BEGIN
        UPDATE calls_call_fts SET title = new.title WHERE call_id = old.id;
    END
    """,
    """
    CREATE TRIGGER calls_call_fts_delete AFTER DELETE ON calls_call BEGIN
        DELETE FROM calls_call_fts WHERE call_id = old.id;
    END
    """,
    """
    CREATE TRIGGER calls_segment_fts_insert AFTER INSERT ON calls_transcriptsegment BEGIN
        INSERT INTO calls_segment_fts (rowid, text) VALUES (new.id, new.text);
    END
    """,
    """
    CREATE TRIGGER calls_segment_fts_delete AFTER DELETE ON calls_transcriptsegment BEGIN
        INSERT INTO calls_segment_fts (calls_segment_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END
    """,
    """
    CREATE TRIGGER calls_segment_fts_update AFTER UPDATE OF text ON calls_transcriptsegment BEGIN
        INSERT INTO calls_segment_fts (calls_segment_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO calls_segment_fts (rowid, text) VALUES (new.id, new.text);
    END
    """,
    "INSERT INTO calls_call_fts (call_id, title) SELECT id, title FROM calls_call",
    "INSERT INTO calls_segment_fts (calls_segment_fts) VALUES ('rebuild')",
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS calls_call_fts_insert",
    "DROP TRIGGER IF EXISTS calls_call_fts_update",
    "DROP TRIGGER IF EXISTS calls_call_fts_delete",
    "DROP TRIGGER IF EXISTS calls_segment_fts_insert",
    "DROP TRIGGER IF EXISTS calls_segment_fts_delete",
    "DROP TRIGGER IF EXISTS calls_segment_fts_update",
    "DROP TABLE IF EXISTS calls_call_fts",
    "DROP TABLE IF EXISTS calls_segment_fts",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        with schema_editor.connection.cursor() as cursor:
            for sql in statements:
                # No parameters: the SQL is ours and is sent as it is.
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0002_snippet_notify_views"),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
