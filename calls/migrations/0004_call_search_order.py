"""Each search document also carries its call's organisation and start time (PostgreSQL only).

So that the calls matching a query can be put in date order from the documents alone (GIN bitmap, then a
sort of small rows), and only the newest of them looked up in calls_call: for a word found in a few
thousand calls, that is a few thousand cheap row reads instead of a few thousand index lookups. Triggers
keep the two columns equal to the call's when a call's title, start or organisation changes.
"""

from django.db import migrations

CONFIG = "english"

PG_FORWARD = [
    "ALTER TABLE calls_search_document ADD COLUMN org_id uuid, ADD COLUMN started_at timestamptz",
    """
    UPDATE calls_search_document d SET org_id = c.org_id, started_at = c.started_at
    FROM calls_call c WHERE c.id = d.call_id
    """,
    "DELETE FROM calls_search_document WHERE org_id IS NULL",
    "ALTER TABLE calls_search_document ALTER COLUMN org_id SET NOT NULL, ALTER COLUMN started_at SET NOT NULL",
    f"""
    CREATE OR REPLACE FUNCTION calls_search_build(call_ids uuid[]) RETURNS void LANGUAGE sql AS $$
        INSERT INTO calls_search_document (call_id, org_id, started_at, document)
        SELECT c.id, c.org_id, c.started_at,
               setweight(to_tsvector('{CONFIG}', c.title), 'A')
               || setweight(to_tsvector('{CONFIG}', coalesce(t.body, '')), 'B')
        FROM calls_call c
        LEFT JOIN LATERAL (
            SELECT string_agg(s.text, ' ' ORDER BY s.position) AS body
            FROM calls_transcriptsegment s WHERE s.call_id = c.id
        ) t ON true
        WHERE c.id = ANY(call_ids)
        ON CONFLICT (call_id) DO UPDATE
            SET document = EXCLUDED.document, org_id = EXCLUDED.org_id, started_at = EXCLUDED.started_at
    $$
    """,
    "DROP TRIGGER calls_search_title_changed ON calls_call",
    "DROP FUNCTION calls_search_title_changed()",
    f"""
    CREATE FUNCTION calls_search_call_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.title IS DISTINCT FROM NEW.title THEN
            UPDATE calls_search_document
               SET document = setweight(to_tsvector('{CONFIG}', NEW.title), 'A') || ts_filter(document, '{{b}}')
             WHERE call_id = NEW.id;
        END IF;
        UPDATE calls_search_document SET org_id = NEW.org_id, started_at = NEW.started_at
         WHERE call_id = NEW.id AND (org_id, started_at) IS DISTINCT FROM (NEW.org_id, NEW.started_at);
        IF NOT EXISTS (SELECT 1 FROM calls_search_document WHERE call_id = NEW.id) THEN
            PERFORM calls_search_build(ARRAY[NEW.id]);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER calls_search_call_changed AFTER UPDATE OF title, started_at, org_id ON calls_call
        FOR EACH ROW
        WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.started_at IS DISTINCT FROM NEW.started_at
              OR OLD.org_id IS DISTINCT FROM NEW.org_id)
        EXECUTE FUNCTION calls_search_call_changed()
    """,
    # The matching documents of one organisation in date order, from the GIN index (sequential scans off:
    # the planner does not count the cost of reading, detoasting, every document, which a scan does).
    """
    CREATE FUNCTION calls_search_stream(
        p_org uuid, p_query tsquery, p_descending boolean, p_limit integer,
        p_after_at timestamptz, p_after_id uuid, p_floor_at timestamptz, p_floor_id uuid
    ) RETURNS TABLE (call_id uuid, started_at timestamptz)
        LANGUAGE plpgsql STABLE SET enable_seqscan = off
    AS $$
    BEGIN
        IF p_descending THEN
            RETURN QUERY
            SELECT d.call_id, d.started_at FROM calls_search_document d
            WHERE d.org_id = p_org AND d.document @@ p_query
              AND (p_after_at IS NULL OR (d.started_at, d.call_id) < (p_after_at, p_after_id))
              AND (p_floor_at IS NULL OR (d.started_at, d.call_id) >= (p_floor_at, p_floor_id))
            ORDER BY d.started_at DESC, d.call_id DESC LIMIT p_limit;
        ELSE
            RETURN QUERY
            SELECT d.call_id, d.started_at FROM calls_search_document d
            WHERE d.org_id = p_org AND d.document @@ p_query
              AND (p_after_at IS NULL OR (d.started_at, d.call_id) > (p_after_at, p_after_id))
            ORDER BY d.started_at, d.call_id LIMIT p_limit;
        END IF;
    END $$
    """,
    "DROP FUNCTION calls_search_ids(tsquery)",
    "ANALYZE calls_search_document",
]

PG_BACKWARD = [
    "DROP FUNCTION IF EXISTS calls_search_stream(uuid, tsquery, boolean, integer, timestamptz, uuid, timestamptz, uuid)",
    """
    CREATE OR REPLACE FUNCTION calls_search_ids(query tsquery) RETURNS SETOF uuid
        LANGUAGE sql STABLE ROWS 1000 SET enable_seqscan = off
    AS $$ SELECT call_id FROM calls_search_document WHERE document @@ query $$
    """,
    "DROP TRIGGER IF EXISTS calls_search_call_changed ON calls_call",
    "DROP FUNCTION IF EXISTS calls_search_call_changed()",
    f"""
    CREATE OR REPLACE FUNCTION calls_search_build(call_ids uuid[]) RETURNS void LANGUAGE sql AS $$
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
    "ALTER TABLE calls_search_document DROP COLUMN org_id, DROP COLUMN started_at",
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
        ("calls", "0003_call_search"),
    ]

    operations = [
        migrations.RunPython(_run({"postgresql": PG_FORWARD}), _run({"postgresql": PG_BACKWARD})),
    ]
