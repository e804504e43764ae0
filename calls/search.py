"""Full-text search over calls, on PostgreSQL and on SQLite, with one behaviour and one result shape.

Query syntax (web search style, parsed here once for both databases):

    pricing objection        both words, anywhere in the call (title or transcript)
    "security review"        the exact phrase
    gongly or chorus         either word
    pricing -gongly          pricing, but no call that mentions Gongly (-"a phrase" works too)

Words are stemmed ("priced" finds "pricing"), case and accents do not matter, and very common English
words ("the", "of": PostgreSQL's English stop list) are ignored. A query with nothing left to search for is
an invalid_argument rather than an empty or an unfiltered result, so the caller learns to rephrase.

PostgreSQL (migrations 0003-0005): `calls_search_document` holds one tsvector per call, the title with weight
A and the transcript with weight B (configuration 'english'), GIN-indexed, stored inline, next to the call's
organisation and start time. Triggers keep it current on every write path, bulk ones included (COPY,
bulk_create, raw SQL): an inserted call gets its document, a title change swaps the A part, inserted segments
are appended in one statement-level pass, changed or deleted segments rebuild their calls' documents.
Relevance is ts_rank with weights {D, C, B, A} = {0.1, 0.2, 0.4, 1.0}: for a word, a title match outranks any
number of transcript mentions, and more mentions rank higher. ts_rank reads only the call's own document, so
the rank of a call never moves when other calls are added: the (rank, id) cursor is stable.

SQLite (the embedded default): FTS5 tables `calls_call_fts` (titles) and `calls_segment_fts` (segments,
external content) kept in sync by triggers. A clause must match the title or one segment (a phrase does not
span two segments). Relevance is bm25, a title match weighing ten times a segment, repeated mentions with
diminishing returns as on PostgreSQL. bm25 also weighs rare words more, across all calls, so on SQLite
ranks shift slightly when calls are added, and a relevance page boundary can then move by a call; the
embedded database is a single-user demo, where that is acceptable.

Ranking reads each matching call's document: for a word found in most calls ("pricing") that is tens of
thousands of documents, too slow to do per search. Relevance therefore ranks the RELEVANCE_WINDOW most recent
matching calls (all of them, when fewer match); older matches follow, newest first. The window's lower edge
is fixed by the first page and carried in the cursor, so paging stays stable while calls are added.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import Any, Final, Literal, Protocol

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from accounts.errors import InvalidArgument
from attention_mcp.pagination import decode_cursor, decode_time_id_cursor, encode_cursor
from calls.models import Call
from calls.schemas import TextMatch

Sort = Literal["relevance", "date_desc", "date_asc"]

SEARCH_CONFIG: Final[str] = "english"
# How many of the most recent matching calls relevance ranks (see the module docstring).
RELEVANCE_WINDOW: Final[int] = 500
MATCHES_PER_CALL: Final[int] = 3
MAX_TERMS: Final[int] = 32
# Segments up to this length are shown whole; longer ones as fragments around the matched words.
WHOLE_SEGMENT_CHARS: Final[int] = 400
TITLE_WEIGHT_SQLITE: Final[float] = 10.0

# PostgreSQL's english.stop (snowball), so both databases ignore the same words.
STOP_WORDS: Final[frozenset[str]] = frozenset(
    (
        "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself", "yourselves",
        "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself", "they", "them", "their",
        "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "these", "those", "am", "is", "are",
        "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "a", "an",
        "the", "and", "but", "if", "or", "because", "as", "until", "while", "of", "at", "by", "for", "with", "about",
        "against", "between", "into", "through", "during", "before", "after", "above", "below", "to", "from", "up",
        "down", "in", "out", "on", "off", "over", "under", "again", "further", "then", "once", "here", "there", "when",
        "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no",
        "nor", "not", "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don",
        "should", "now"
    )
)  # fmt: skip

# A quoted phrase (closing quote optional) or a run of non-space characters; "-" first excludes it.
_TOKEN = re.compile(r'(?P<pneg>-+)?"(?P<phrase>[^"]*)(?:"|$)|(?P<wneg>-+)?(?P<word>[^\s"]+)')
# Letters and digits only: "_" and punctuation separate words in both databases' tokenizers.
_WORD = re.compile(r"[^\W_]+")
_ADJACENT_MARKS = re.compile(r"\*\*(\s+)\*\*")


@dataclass(frozen=True, slots=True)
class Term:
    """One word or one quoted phrase of a query."""

    text: str  # as written, whitespace collapsed: what the database's own parser reads
    words: tuple[str, ...]  # lower-cased words, stop words included

    @property
    def is_phrase(self) -> bool:
        return len(self.words) > 1


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """`clauses` must all match (each is a set of alternatives joined by `or`); `excluded` must not."""

    clauses: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...]

    @property
    def positive(self) -> tuple[Term, ...]:
        return tuple(term for clause in self.clauses for term in clause)

    @property
    def fingerprint(self) -> str:
        """Ties a relevance cursor to the query it was issued for."""
        canon = json.dumps(
            [[[t.text.lower() for t in c] for c in self.clauses], [t.text.lower() for t in self.excluded]]
        )
        return hashlib.sha256(canon.encode()).hexdigest()[:12]


def parse_query(text: str | None) -> SearchQuery | None:
    """The query as clauses; None for a blank query. Raises InvalidArgument when nothing is left to search."""
    if text is None or not text.strip():
        return None
    items: list[tuple[str, Term | None]] = []
    for m in _TOKEN.finditer(text):
        if m["phrase"] is not None:
            negated, raw = bool(m["pneg"]), m["phrase"]
        else:
            negated, raw = bool(m["wneg"]), m["word"]
            if not negated and raw.lower() == "or":
                items.append(("or", None))
                continue
        words = tuple(w.lower() for w in _WORD.findall(raw))
        if not words or all(w in STOP_WORDS for w in words):
            continue
        items.append(("-" if negated else "+", Term(text=" ".join(raw.split()), words=words)))

    clauses: list[list[Term]] = []
    excluded: list[Term] = []
    join_next = False
    for kind, term in items:
        if term is None:
            join_next = bool(clauses)  # "or" with nothing before it means nothing
        elif kind == "-":
            excluded.append(term)
            join_next = False
        else:
            if join_next:
                clauses[-1].append(term)
            else:
                clauses.append([term])
            join_next = False
    if not clauses and not excluded:
        raise InvalidArgument(
            "query",
            "The query has no words to search for: punctuation and very common words such as 'the' or 'and' "
            "are ignored. Use more specific words, or leave query out to list calls.",
        )
    if len(excluded) + sum(len(c) for c in clauses) > MAX_TERMS:
        raise InvalidArgument("query", f"Use at most {MAX_TERMS} words or quoted phrases.")
    return SearchQuery(clauses=tuple(tuple(c) for c in clauses), excluded=tuple(excluded))


def effective_sort(sort: str | None, query: SearchQuery | None) -> Sort:
    """Relevance when the query has words to rank by (unless asked otherwise); newest first without."""
    if query is None or not query.positive:
        return "date_asc" if sort == "date_asc" else "date_desc"
    if sort in ("date_desc", "date_asc"):
        return sort  # type: ignore[return-value]  # narrowed by the membership test
    return "relevance"


# --- positions in date order ------------------------------------------------------------------------------------

Position = tuple[datetime, uuid.UUID]  # (started_at, id): the key every listing is ordered by


@dataclass(frozen=True, slots=True)
class Hit:
    id: uuid.UUID
    started_at: datetime


@dataclass(frozen=True, slots=True)
class Bounds:
    """Which part of the date order to read: strictly after `after` (in the reading direction) and, reading
    newest first, not below `at_least` (inclusive)."""

    descending: bool = True
    after: Position | None = None
    at_least: Position | None = None


def _after(qs: QuerySet[Call], at: Position, *, descending: bool) -> QuerySet[Call]:
    when, call_id = at
    if descending:
        return qs.filter(Q(started_at__lt=when) | Q(started_at=when, id__lt=call_id))
    return qs.filter(Q(started_at__gt=when) | Q(started_at=when, id__gt=call_id))


def _bounded(qs: QuerySet[Call], bounds: Bounds) -> QuerySet[Call]:
    """`qs` restricted to `bounds`, in their date order."""
    if bounds.after is not None:
        qs = _after(qs, bounds.after, descending=bounds.descending)
    if bounds.at_least is not None:
        when, call_id = bounds.at_least
        qs = qs.filter(Q(started_at__gt=when) | Q(started_at=when, id__gte=call_id))
    return qs.order_by("-started_at", "-id") if bounds.descending else qs.order_by("started_at", "id")


# --- backends ---------------------------------------------------------------------------------------------------


class _Backend(Protocol):
    def collect(
        self, qs: QuerySet[Call], query: SearchQuery, *, org_id: uuid.UUID, bounds: Bounds, limit: int | None
    ) -> tuple[list[Hit], dict[uuid.UUID, float]]:
        """Up to `limit` calls of `qs` matching `query`, in the date order of `bounds`, with their relevance."""

    def highlights(self, query: SearchQuery, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[TextMatch]]:
        """Up to MATCHES_PER_CALL matching segments per call, matched words in ** **, in transcript order."""


def _db_id(value: uuid.UUID) -> Any:
    """A call id as the database stores it (uuid on PostgreSQL, 32 hex digits on SQLite)."""
    field = Call._meta.pk
    assert field is not None
    return field.get_db_prep_value(value, connection)


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _merge_marks(text: str) -> str:
    # "**pricing** **objection**" reads better as one marked phrase.
    return _ADJACENT_MARKS.sub(r"\1", text)


def _pick(rows: list[tuple[uuid.UUID, int, float, str, str, bool]]) -> dict[uuid.UUID, list[TextMatch]]:
    """Per call: segments matching the whole query first, then any term; shown in transcript order."""
    by_call: dict[uuid.UUID, list[tuple[uuid.UUID, int, float, str, str, bool]]] = {}
    for row in rows:
        by_call.setdefault(row[0], []).append(row)
    out: dict[uuid.UUID, list[TextMatch]] = {}
    for call_id, found in by_call.items():
        best = sorted(found, key=lambda r: (not r[5], r[1]))[:MATCHES_PER_CALL]
        out[call_id] = [
            TextMatch(start_s=start, speaker=speaker, text=_merge_marks(text))
            for _, _, start, speaker, text, _ in sorted(best, key=lambda r: r[1])
        ]
    return out


# '%<lexeme less its last letter, at least 3 letters>%', with LIKE's wildcards escaped ("%%": a parameter style).
_LIKE_PATTERN = (
    "'%%' || replace(replace(replace(left(l, greatest(length(l) - 1, least(length(l), 3))), "
    "'\\', '\\\\'), '%%', '\\%%'), '_', '\\_') || '%%'"
)

# Below this share of matching calls, PostgreSQL reads the matches from the index (a cost that grows with
# their number); above it, it walks the caller's calls in date order and checks each (a cost that grows
# with how many it must walk to find enough). At 15% both cost about the same on 50,000 seeded calls.
WALK_MIN_SELECTIVITY: Final[float] = 0.15
MIN_CHUNK: Final[int] = 64
MAX_CHUNK: Final[int] = 4000
_ESTIMATES: dict[tuple[str, tuple[str, ...]], tuple[float, float]] = {}  # (sql, words) -> (estimate, when)
ESTIMATE_TTL_S: Final[float] = 60.0

Mode = Literal["all", "positive", "any"]


# Chunk queries return only the matching rows and the chunk's last row (for the next chunk's start), with
# the number of rows read: converting every row's timestamp in Python cost more than the query itself.
_LAST_OF_CHUNK = "row_number() OVER (ORDER BY {order}) AS n, count(*) OVER () AS total"


def _matches_and_last(sql: str, direction: str) -> str:
    return (
        f"SELECT pk, started_at, rank, total FROM ({sql}) AS chunk (pk, started_at, rank, n, total) "  # noqa: S608
        f"WHERE rank IS NOT NULL OR n = total ORDER BY started_at {direction}, pk {direction}"
    )


def _take(
    rows: list[tuple[Any, datetime, float | None, int]],
    hits: list[Hit],
    ranks: dict[uuid.UUID, float],
    limit: int | None,
) -> int | None:
    """Adds a chunk's matches to `hits`; the number of rows the chunk read, or None once `limit` is reached."""
    for pk, started_at, rank, _ in rows:
        if rank is not None:
            hits.append(Hit(_as_uuid(pk), started_at))
            ranks[hits[-1].id] = float(rank)
            if limit is not None and len(hits) >= limit:
                return None
    return int(rows[-1][3]) if rows else 0


def _next_chunk(chunk: int, found: int, read: int, missing: int | None) -> int:
    """The next chunk's size: enough, at the yield seen so far, for what is still missing (with a margin)."""
    if missing is None:
        return min(chunk * 2, MAX_CHUNK)
    rate = max(found / read, 0.02) if read else 0.02
    return min(MAX_CHUNK, max(MIN_CHUNK, int(missing / rate * 1.2) + 16))


class _Postgres:
    """tsvector documents in calls_search_document (migrations 0003 and 0004).

    Two ways to find the next matching calls in date order, chosen by the planner's estimate of how many
    documents match (EXPLAIN, cached for a minute):

    - stream (rare words): calls_search_stream() reads the matching documents' (call, start) from the GIN
      index and sorts them; each chunk is then narrowed to the calls the caller may see, with the filters;
    - walk (common words): the caller's calls are read newest first, with the filters, and each one's
      document is checked, so a page of a word found in most calls reads little more than a page of calls.

    Both check phrases and exclusions exactly and give each hit its rank from the document.
    """

    def _tsquery(self, query: SearchQuery, *, relaxed: bool, mode: Mode = "all") -> str | None:
        """A tsquery expression over %s parameters (see _params): the structure is ours, the words are parameters.

        relaxed: phrases become "all these words", which the GIN index answers without reading documents;
        an excluded phrase is dropped (the result is then a superset, which the exact query narrows).
        """
        fn = f"plainto_tsquery('{SEARCH_CONFIG}', %s)" if relaxed else f"phraseto_tsquery('{SEARCH_CONFIG}', %s)"
        if mode == "any":
            return "(" + " || ".join(fn for _ in query.positive) + ")"
        parts = ["(" + " || ".join(fn for _ in clause) + ")" for clause in query.clauses]
        if mode == "all":
            parts += [f"!!{fn}" for term in query.excluded if not (relaxed and term.is_phrase)]
        return "(" + " && ".join(parts) + ")" if parts else None

    def _params(self, query: SearchQuery, *, relaxed: bool, mode: Mode = "all") -> list[str]:
        if mode == "any":
            return [t.text for t in query.positive]
        params = [t.text for t in query.positive]
        if mode == "all":
            params += [t.text for t in query.excluded if not (relaxed and t.is_phrase)]
        return params

    def _selectivity(self, query: SearchQuery) -> float:
        """The planner's estimate of the share of documents the relaxed query matches (statistics of ANALYZE)."""
        relaxed = self._tsquery(query, relaxed=True)
        if relaxed is None:
            return 1.0
        params = self._params(query, relaxed=True)
        key = (relaxed, tuple(p.lower() for p in params))
        now = time.monotonic()
        cached = _ESTIMATES.get(key)
        if cached is not None and now - cached[1] < ESTIMATE_TTL_S:
            return cached[0]
        with connection.cursor() as cursor:
            cursor.execute(
                f"EXPLAIN (FORMAT JSON) SELECT 1 FROM calls_search_document WHERE document @@ {relaxed}",  # noqa: S608
                params,
            )
            plan = cursor.fetchone()[0]
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'calls_search_document'::regclass")
            total = float(cursor.fetchone()[0])
        plan = json.loads(plan) if isinstance(plan, str) else plan
        rows = float(plan[0]["Plan"]["Plan Rows"])
        estimate = min(1.0, rows / total) if total > 0 else 0.0  # never analysed: the index, always right
        if len(_ESTIMATES) > 512:
            _ESTIMATES.clear()
        _ESTIMATES[key] = (estimate, now)
        return estimate

    def scores(self, query: SearchQuery, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, float]:
        """The calls among `ids` whose document matches the exact query, with their ts_rank."""
        if not ids:
            return {}
        q = self._tsquery(query, relaxed=False)
        assert q is not None  # a parsed query always has a clause or an exclusion
        # One index lookup per id (LIMIT 1 keeps the planner from scanning and reading every document).
        sql = f"""
            SELECT i.id, r.rank FROM (SELECT {q} AS q) x, unnest(%s::uuid[]) AS i (id)
            CROSS JOIN LATERAL (
                SELECT ts_rank(d.document, x.q) AS rank FROM calls_search_document d
                WHERE d.call_id = i.id AND d.document @@ x.q LIMIT 1
            ) r
        """  # noqa: S608  (structure and constants are ours; every word and id is a parameter)
        with connection.cursor() as cursor:
            cursor.execute(sql, [*self._params(query, relaxed=False), list(ids)])
            return {_as_uuid(call_id): float(rank) for call_id, rank in cursor.fetchall()}

    def collect(
        self, qs: QuerySet[Call], query: SearchQuery, *, org_id: uuid.UUID, bounds: Bounds, limit: int | None
    ) -> tuple[list[Hit], dict[uuid.UUID, float]]:
        hits: list[Hit] = []
        ranks: dict[uuid.UUID, float] = {}
        selectivity = self._selectivity(query)
        if selectivity >= WALK_MIN_SELECTIVITY or self._tsquery(query, relaxed=True) is None:
            after = self._walk(qs, query, bounds, limit, selectivity, hits, ranks)
            if after is None:
                return hits, ranks
            bounds = Bounds(descending=bounds.descending, after=after, at_least=bounds.at_least)
        self._stream(qs, query, org_id, bounds, limit, hits, ranks)
        return hits, ranks

    def _walk(
        self,
        qs: QuerySet[Call],
        query: SearchQuery,
        bounds: Bounds,
        limit: int | None,
        selectivity: float,
        hits: list[Hit],
        ranks: dict[uuid.UUID, float],
    ) -> Position | None:
        """Walk the calls in date order, checking each document; the position reached if the walk turned out
        too sparse to go on (then streaming from the index is cheaper), None when done."""
        q = self._tsquery(query, relaxed=False)
        assert q is not None
        direction = "DESC" if bounds.descending else "ASC"
        wanted = limit if limit is not None else MAX_CHUNK
        chunk = min(MAX_CHUNK, max(MIN_CHUNK, int(wanted / max(selectivity, 0.05) * 1.2)))
        walked = 0
        position = bounds.after
        while True:
            inner = _bounded(qs, Bounds(bounds.descending, position, bounds.at_least)).values_list("pk", "started_at")
            inner_sql, inner_params = inner[:chunk].query.sql_with_params()
            last_of_chunk = _LAST_OF_CHUNK.format(order=f"w.started_at {direction}, w.pk {direction}")
            sql = f"""
                SELECT w.pk, w.started_at, r.rank, {last_of_chunk}
                FROM (SELECT {q} AS q) x CROSS JOIN ({inner_sql}) AS w (pk, started_at)
                LEFT JOIN LATERAL (
                    SELECT ts_rank(d.document, x.q) AS rank FROM calls_search_document d
                    WHERE d.call_id = w.pk AND d.document @@ x.q LIMIT 1
                ) r ON true
            """  # noqa: S608  (the inner query is the ORM's own, compiled with its parameters)
            with connection.cursor() as cursor:
                cursor.execute(_matches_and_last(sql, direction), [*self._params(query, relaxed=False), *inner_params])
                rows = cursor.fetchall()
            before = len(hits)
            read = _take(rows, hits, ranks, limit)
            if read is None or read < chunk:
                return None
            walked += read
            position = (rows[-1][1], _as_uuid(rows[-1][0]))
            if len(hits) < walked * WALK_MIN_SELECTIVITY / 2 and self._tsquery(query, relaxed=True) is not None:
                return position
            chunk = _next_chunk(chunk, len(hits) - before, read, None if limit is None else limit - len(hits))

    def _stream(
        self,
        qs: QuerySet[Call],
        query: SearchQuery,
        org_id: uuid.UUID,
        bounds: Bounds,
        limit: int | None,
        hits: list[Hit],
        ranks: dict[uuid.UUID, float],
    ) -> None:
        """Read matching documents in date order from the index, chunk by chunk, keeping the visible ones."""
        relaxed = self._tsquery(query, relaxed=True)
        assert relaxed is not None
        params = self._params(query, relaxed=True)
        # Room for the calls the caller may not see (archived, private, other teams' ones) in the first chunk.
        chunk = min(MAX_CHUNK, max(MIN_CHUNK, int(((limit or MAX_CHUNK // 2) - len(hits)) * 1.25) + 16))
        exact = self._tsquery(query, relaxed=False)
        assert exact is not None
        # The caller's visibility and filters apply to each chunk only (the ORM's own SQL, over the CTE "m").
        visible_sql, visible_params = (
            qs.filter(pk__in=RawSQL("SELECT call_id FROM m", [])).order_by().values("pk").query.sql_with_params()
        )
        direction = "DESC" if bounds.descending else "ASC"
        sql = f"""
            WITH m AS MATERIALIZED (
                SELECT call_id, started_at FROM calls_search_stream(%s, {relaxed}, %s, %s, %s, %s, %s, %s)
            ),
            v AS MATERIALIZED (SELECT * FROM ({visible_sql}) AS s (pk))
            SELECT m.call_id, m.started_at, r.rank,
                   {_LAST_OF_CHUNK.format(order=f"m.started_at {direction}, m.call_id {direction}")}
            FROM (SELECT {exact} AS q) x CROSS JOIN m LEFT JOIN v ON v.pk = m.call_id
            LEFT JOIN LATERAL (
                SELECT ts_rank(d.document, x.q) AS rank FROM calls_search_document d
                WHERE v.pk IS NOT NULL AND d.call_id = m.call_id AND d.document @@ x.q LIMIT 1
            ) r ON true
        """  # noqa: S608  (structure ours, the inner query the ORM's; words, ids and dates are parameters)
        sql = _matches_and_last(sql, direction)
        after, at_least = bounds.after, bounds.at_least
        while limit is None or len(hits) < limit:
            stream_params = [
                org_id,
                *params,
                bounds.descending,
                chunk,
                after[0] if after else None,
                after[1] if after else None,
                at_least[0] if at_least else None,
                at_least[1] if at_least else None,
            ]
            with connection.cursor() as cursor:
                cursor.execute(sql, [*stream_params, *visible_params, *self._params(query, relaxed=False)])
                rows = cursor.fetchall()
            before = len(hits)
            read = _take(rows, hits, ranks, limit)
            if read is None or read < chunk:
                return
            after = (rows[-1][1], _as_uuid(rows[-1][0]))
            chunk = _next_chunk(chunk, len(hits) - before, read, None if limit is None else limit - len(hits))

    def highlights(self, query: SearchQuery, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[TextMatch]]:
        if not ids or not query.positive:
            return {}
        any_q = self._tsquery(query, relaxed=False, mode="any")
        all_q = self._tsquery(query, relaxed=False, mode="positive")
        assert any_q is not None
        assert all_q is not None
        # A cheap pre-filter spares running the stemmer over every segment of the page's calls: a segment can
        # only match if it contains a query word's stem less its last letter (stems are the start of their
        # words, up to a changed last letter: "happy" -> "happi"). Left out for non-ASCII words, which ILIKE
        # may not fold.
        ascii_only = all(t.text.isascii() for t in query.positive)
        prefilter = "s.text ILIKE ANY(pats.p)" if ascii_only else "TRUE"
        options = "StartSel=**, StopSel=**"
        sql = f"""
            WITH q AS (SELECT {any_q} AS any_q, {all_q} AS all_q),
            pats AS (
                SELECT coalesce(array_agg({_LIKE_PATTERN}), '{{}}') AS p
                FROM unnest(tsvector_to_array(to_tsvector('{SEARCH_CONFIG}', %s))) AS l
            ),
            hits AS (
                SELECT s.call_id, s.position, s.start_s, s.speaker, s.text, v @@ q.all_q AS whole,
                       row_number() OVER (PARTITION BY s.call_id ORDER BY v @@ q.all_q DESC, s.position) AS n
                FROM q, pats, calls_transcriptsegment s, to_tsvector('{SEARCH_CONFIG}', s.text) AS v
                WHERE s.call_id = ANY(%s) AND {prefilter} AND v @@ q.any_q
            )
            SELECT h.call_id, h.position, h.start_s, h.speaker,
                   CASE WHEN length(h.text) <= {WHOLE_SEGMENT_CHARS}
                        THEN ts_headline('{SEARCH_CONFIG}', h.text, q.any_q, 'HighlightAll=true, {options}')
                        ELSE ts_headline('{SEARCH_CONFIG}', h.text, q.any_q,
                                         'MaxWords=40, MinWords=15, MaxFragments=2, FragmentDelimiter=" … ", {options}')
                   END,
                   h.whole
            FROM hits h, q WHERE h.n <= {MATCHES_PER_CALL}
        """  # noqa: S608  (structure and constants are ours; every word and id is a parameter)
        params: list[Any] = [
            *self._params(query, relaxed=False, mode="any"),
            *self._params(query, relaxed=False, mode="positive"),
            " ".join(t.text for t in query.positive),
            list(ids),
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = [(_as_uuid(c), p, float(s), sp, t, bool(w)) for c, p, s, sp, t, w in cursor.fetchall()]
        return _pick(rows)


def _fts_string(term: Term) -> str:
    # One FTS5 string: FTS5 tokenizes it itself, and a string is always a phrase, never syntax.
    return '"' + term.text.replace('"', '""') + '"'


def _fts_any(terms: Sequence[Term]) -> str:
    return " OR ".join(_fts_string(t) for t in terms)


class _Sqlite:
    """FTS5 tables calls_call_fts and calls_segment_fts (migration 0003).

    The embedded database holds one organisation's demo data: the matching call ids come from FTS5 in one
    subquery and the ORM orders and filters them; no strategy is needed at that size.
    """

    _CLAUSE = (
        "SELECT call_id FROM calls_call_fts WHERE calls_call_fts MATCH %s "
        "UNION SELECT s.call_id FROM calls_segment_fts JOIN calls_transcriptsegment s "
        "ON s.id = calls_segment_fts.rowid WHERE calls_segment_fts MATCH %s"
    )

    def matching_ids(self, query: SearchQuery) -> RawSQL:
        parts: list[str] = []
        params: list[str] = []
        for clause in query.clauses:
            parts.append(f"SELECT call_id FROM ({self._CLAUSE})")  # noqa: S608  (constant SQL, words are params)
            params += [_fts_any(clause)] * 2
        sql = " INTERSECT ".join(parts) if parts else "SELECT id FROM calls_call"
        for term in query.excluded:
            sql += f" EXCEPT SELECT call_id FROM ({self._CLAUSE})"  # noqa: S608
            params += [_fts_string(term)] * 2
        return RawSQL(sql, params)  # noqa: S611

    def scores(self, query: SearchQuery, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, float]:
        if not ids or not query.positive:
            return {}
        any_q = _fts_any(query.positive)
        id_list = json.dumps([_db_id(i) for i in ids])
        # bm25() is negative, better matches more so. A call's segments count 1, 1/4, 1/9, ... from its best.
        sql = f"""
            WITH titles AS (
                SELECT call_id, -bm25(calls_call_fts) * {TITLE_WEIGHT_SQLITE} AS score FROM calls_call_fts
                WHERE calls_call_fts MATCH %s AND call_id IN (SELECT value FROM json_each(%s))
            ),
            segments AS (
                SELECT s.call_id, -bm25(calls_segment_fts) AS score FROM calls_segment_fts
                JOIN calls_transcriptsegment s ON s.id = calls_segment_fts.rowid
                WHERE calls_segment_fts MATCH %s AND s.call_id IN (SELECT value FROM json_each(%s))
            ),
            ordered AS (
                SELECT call_id, score, row_number() OVER (PARTITION BY call_id ORDER BY score DESC) AS n
                FROM segments
            )
            SELECT call_id, sum(score) FROM (
                SELECT call_id, score FROM titles UNION ALL SELECT call_id, score / (n * n) FROM ordered
            ) GROUP BY call_id
        """  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [any_q, id_list, any_q, id_list])
            return {_as_uuid(call_id): float(score) for call_id, score in cursor.fetchall()}

    def collect(
        self, qs: QuerySet[Call], query: SearchQuery, *, org_id: uuid.UUID, bounds: Bounds, limit: int | None
    ) -> tuple[list[Hit], dict[uuid.UUID, float]]:
        rows = _bounded(qs.filter(pk__in=self.matching_ids(query)), bounds).values_list("pk", "started_at")
        hits = [Hit(pk, at) for pk, at in (rows if limit is None else rows[:limit])]
        return hits, self.scores(query, [h.id for h in hits])

    def highlights(self, query: SearchQuery, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[TextMatch]]:
        if not ids or not query.positive:
            return {}
        any_q = _fts_any(query.positive)
        all_q = " AND ".join("(" + _fts_any(clause) + ")" for clause in query.clauses)
        sql = f"""
            SELECT s.call_id, s.position, s.start_s, s.speaker,
                   CASE WHEN length(s.text) <= {WHOLE_SEGMENT_CHARS}
                        THEN highlight(calls_segment_fts, 0, '**', '**')
                        ELSE snippet(calls_segment_fts, 0, '**', '**', ' … ', 40) END,
                   calls_segment_fts.rowid IN (
                       SELECT rowid FROM calls_segment_fts WHERE calls_segment_fts MATCH %s
                   )
            FROM calls_segment_fts JOIN calls_transcriptsegment s ON s.id = calls_segment_fts.rowid
            WHERE calls_segment_fts MATCH %s AND s.call_id IN (SELECT value FROM json_each(%s))
        """  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [all_q, any_q, json.dumps([_db_id(i) for i in ids])])
            rows = [(_as_uuid(c), p, float(s), sp, t, bool(w)) for c, p, s, sp, t, w in cursor.fetchall()]
        return _pick(rows)


def _backend() -> _Backend:
    return _Postgres() if connection.vendor == "postgresql" else _Sqlite()


def highlights(query: SearchQuery | None, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[TextMatch]]:
    """The matching passages of the given (already visible) calls."""
    if query is None:
        return {}
    return _backend().highlights(query, ids)


# --- pages ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchPage:
    ids: list[uuid.UUID]
    next_cursor: str | None


def _collect(
    qs: QuerySet[Call], query: SearchQuery | None, *, org_id: uuid.UUID, bounds: Bounds, limit: int | None
) -> tuple[list[Hit], dict[uuid.UUID, float]]:
    if query is None:
        rows = _bounded(qs, bounds).values_list("pk", "started_at")
        return [Hit(pk, at) for pk, at in (rows if limit is None else rows[:limit])], {}
    return _backend().collect(qs, query, org_id=org_id, bounds=bounds, limit=limit)


def date_page(
    qs: QuerySet[Call],
    query: SearchQuery | None,
    *,
    org_id: uuid.UUID,
    sort: Literal["date_desc", "date_asc"],
    page_size: int,
    cursor: str | None,
) -> SearchPage:
    position = decode_time_id_cursor(cursor, kind=f"calls:{sort}", time_key="s")
    bounds = Bounds(descending=sort == "date_desc", after=position)
    hits, _ = _collect(qs, query, org_id=org_id, bounds=bounds, limit=page_size + 1)
    more = len(hits) > page_size
    hits = hits[:page_size]
    next_cursor = None
    if more and hits:
        last = hits[-1]
        next_cursor = encode_cursor({"k": f"calls:{sort}", "s": last.started_at.isoformat(), "i": str(last.id)})
    return SearchPage(ids=[h.id for h in hits], next_cursor=next_cursor)


@dataclass(frozen=True, slots=True)
class _RelevanceCursor:
    tier: int  # 1: inside the ranked window; 2: the older matches after it, newest first
    rank: float
    at: datetime | None
    call_id: uuid.UUID
    floor: Position | None


def _aware(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError
    return parsed


def _decode_relevance_cursor(cursor: str | None, query: SearchQuery) -> _RelevanceCursor | None:
    data = decode_cursor(cursor, kind="calls:relevance")
    if data is None:
        return None
    if data.get("q") != query.fingerprint:
        raise InvalidArgument("cursor", "The cursor belongs to another query; pass the query it came with.")
    try:
        tier, rank, call_id = data["t"], data.get("r", 0.0), uuid.UUID(str(data["i"]))
        if tier not in (1, 2) or isinstance(rank, bool) or not isinstance(rank, int | float):
            raise ValueError
        at = _aware(data["s"]) if tier == 2 else None
        floor_at, floor_id = data.get("f"), data.get("fi")
        floor = (_aware(floor_at), uuid.UUID(str(floor_id))) if floor_at is not None else None
        if tier == 2 and floor is None:
            raise ValueError
    except (KeyError, ValueError, TypeError):
        raise InvalidArgument("cursor", "The cursor is not one this server issued.") from None
    return _RelevanceCursor(tier=tier, rank=float(rank), at=at, call_id=call_id, floor=floor)


def relevance_page(
    qs: QuerySet[Call], query: SearchQuery, *, org_id: uuid.UUID, page_size: int, cursor: str | None
) -> SearchPage:
    """Best matches first, by (rank, id), among the RELEVANCE_WINDOW newest matches; then older ones, newest
    first. The window's edge (`floor`) is fixed by the first page and carried in the cursor."""
    state = _decode_relevance_cursor(cursor, query)
    items: list[tuple[int, Hit, float]] = []
    window: list[Hit] = []
    ranks: dict[uuid.UUID, float] = {}
    if state is None:
        window, ranks = _collect(qs, query, org_id=org_id, bounds=Bounds(), limit=RELEVANCE_WINDOW + 1)
        edge = window[RELEVANCE_WINDOW - 1] if len(window) > RELEVANCE_WINDOW else None
        floor = (edge.started_at, edge.id) if edge is not None else None
        window = window[:RELEVANCE_WINDOW]
        tier = 1
    else:
        floor, tier = state.floor, state.tier
        if tier == 1:
            # Calls added since the first page join the window when they are at or above its edge.
            window, ranks = _collect(qs, query, org_id=org_id, bounds=Bounds(at_least=floor), limit=None)
    if tier == 1:
        ordered = sorted(window, key=lambda h: (ranks.get(h.id, 0.0), h.id.int), reverse=True)
        if state is not None:
            mark = (state.rank, state.call_id.int)
            ordered = [h for h in ordered if (ranks.get(h.id, 0.0), h.id.int) < mark]
        items = [(1, h, ranks.get(h.id, 0.0)) for h in ordered[: page_size + 1]]
    if len(items) <= page_size and floor is not None:
        after = floor if state is None or state.tier == 1 or state.at is None else (state.at, state.call_id)
        rest, _ = _collect(qs, query, org_id=org_id, bounds=Bounds(after=after), limit=page_size + 1 - len(items))
        items += [(2, h, 0.0) for h in rest]
    more = len(items) > page_size
    items = items[:page_size]
    next_cursor = None
    if more and items:
        last_tier, last, rank = items[-1]
        data: dict[str, Any] = {"k": "calls:relevance", "q": query.fingerprint, "t": last_tier, "i": str(last.id)}
        if last_tier == 1:
            data["r"] = rank
        else:
            data["s"] = last.started_at.isoformat()
        if floor is not None:
            data["f"], data["fi"] = floor[0].isoformat(), str(floor[1])
        next_cursor = encode_cursor(data)
    return SearchPage(ids=[h.id for _, h, _ in items], next_cursor=next_cursor)


def search_page(
    qs: QuerySet[Call],
    query: SearchQuery | None,
    *,
    org_id: uuid.UUID,
    sort: Sort,
    page_size: int,
    cursor: str | None,
) -> SearchPage:
    """One page of the calls of `qs` (already visible and filtered) matching `query`, in `sort` order."""
    if sort == "relevance" and query is not None and query.positive:
        return relevance_page(qs, query, org_id=org_id, page_size=page_size, cursor=cursor)
    dated: Literal["date_desc", "date_asc"] = "date_asc" if sort == "date_asc" else "date_desc"
    return date_page(qs, query, org_id=org_id, sort=dated, page_size=page_size, cursor=cursor)


# --- SQLite upkeep ----------------------------------------------------------------------------------------------

SQLITE_TRIGGERS: Final[frozenset[str]] = frozenset(
    {
        "calls_call_fts_insert",
        "calls_call_fts_update",
        "calls_call_fts_delete",
        "calls_segment_fts_insert",
        "calls_segment_fts_delete",
        "calls_segment_fts_update",
    }
)


def sqlite_repair_index(**_: Any) -> bool:
    """SQLite only: recreate missing FTS5 triggers and reindex every call; True when something was missing.

    Django applies many schema changes on SQLite by rebuilding the table (copy, drop, rename), and dropping a
    table drops its triggers: a later migration altering calls_call or calls_transcriptsegment would leave
    the index no longer following writes, silently. Meant to run after every migrate (a post_migrate
    receiver, see calls/apps.py); it changes nothing when the triggers are all there.
    """
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('calls_call_fts', 'calls_segment_fts')")
        (tables,) = cursor.fetchone()
        if tables < 2:
            return False  # migration 0003 has not run yet
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {name for (name,) in cursor.fetchall()}
        if present >= SQLITE_TRIGGERS:
            return False
        # The migration's own statements: one definition of the triggers.
        migration = import_module("calls.migrations.0003_call_search")
        for sql in migration.SQLITE_FORWARD:
            created = re.search(r"CREATE TRIGGER (\w+)", sql)
            if created is not None and created.group(1) not in present:
                cursor.execute(sql)
        cursor.execute("DELETE FROM calls_call_fts")
        cursor.execute("INSERT INTO calls_call_fts (call_id, title) SELECT id, title FROM calls_call")
        cursor.execute("INSERT INTO calls_segment_fts (calls_segment_fts) VALUES ('rebuild')")
    return True
