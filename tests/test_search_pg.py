"""What only PostgreSQL's search shows (calls/search.py, migrations 0003-0005): the documents the triggers
keep, phrase checks across chunks, the relevance window and its cursor while calls are added, ranks that
do not depend on other calls, and the estimate that picks between streaming matches and walking calls.

The shared cases, which also run on SQLite, are in tests/test_search_core.py. Calls here belong to the
persona world's org A (tests/conftest.py), owned by rep_sales in Sales, and are searched with org A's
org-level key; their start times are far from the world's own calls.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from accounts.permissions import Actor
from calls import search
from calls.models import Call, TranscriptSegment
from mcpgateway import registry
from tests.factories import OrgWorld, World

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL search structures")


@pytest.fixture(autouse=True)
def _fresh_estimates() -> Iterator[None]:
    search._ESTIMATES.clear()
    yield
    search._ESTIMATES.clear()


def add_call(w: OrgWorld, title: str, texts: list[str], *, hours: float, owner: str = "rep_sales") -> Call:
    call = Call.objects.create(
        org=w.org,
        owner=w.users[owner],
        team=w.teams["sales"],
        title=title,
        started_at=START + timedelta(hours=hours),
        duration_s=600,
    )
    TranscriptSegment.objects.bulk_create(
        TranscriptSegment(call=call, position=i, speaker="Casey", start_s=i * 10.0, end_s=i * 10.0 + 9, text=t)
        for i, t in enumerate(texts)
    )
    return call


def search_ok(actor: Actor, **args: Any) -> dict[str, Any]:
    result = registry.call_tool(registry.tools()["search_calls"], actor, args)
    assert result["isError"] is False, result
    page: dict[str, Any] = result["structuredContent"]
    return page


def ids(page: dict[str, Any]) -> list[str]:
    return [c["id"] for c in page["calls"]]


def walk_pages(actor: Actor, between: Any = None, **args: Any) -> list[str]:
    """Every call id of a listing, page after page; `between(n)` runs after page n."""
    seen: list[str] = []
    cursor = None
    for n in range(100):
        page = search_ok(actor, **args, **({"cursor": cursor} if cursor else {}))
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        if between is not None:
            between(n)
    raise AssertionError("too many pages")


def document(call: Call) -> tuple[str, uuid.UUID, datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT document::text, org_id, started_at FROM calls_search_document WHERE call_id = %s", [call.pk]
        )
        row = cursor.fetchone()
    assert row is not None
    return row[0], row[1], row[2]


@pytest.fixture(params=["stream", "walk"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(search, "WALK_MIN_SELECTIVITY", 0.0 if request.param == "walk" else 2.0)
    name: str = request.param
    return name


# --- documents ----------------------------------------------------------------------------------------------------


def test_every_call_has_a_document_with_the_title_weighing_more_than_the_transcript(world: World) -> None:
    call = add_call(world.a, "Quarterly pricing", ["We discussed onboarding."], hours=1)
    text, org_id, started_at = document(call)
    assert "'price':2A" in text
    assert "'onboard':" in text
    assert "B" in text.split("'onboard':")[1].split()[0]
    assert (org_id, started_at) == (world.a.org.pk, call.started_at)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM calls_search_document")
        (documents,) = cursor.fetchone()
    assert documents == Call.objects.count()  # the world's calls came in through bulk_create


def test_a_call_moved_in_time_or_renamed_keeps_its_document_in_step(world: World) -> None:
    call = add_call(world.a, "Kickoff", ["Budget talk."], hours=1)
    later = START + timedelta(days=3)
    Call.objects.filter(pk=call.pk).update(started_at=later, title="Renamed kickoff")
    text, _, started_at = document(call)
    assert started_at == later
    assert "'renam'" in text
    assert "'budget'" in text  # the transcript part survived the title change


def test_deleting_or_truncating_calls_removes_their_documents(world: World) -> None:
    call = add_call(world.a, "Short lived", ["Nothing."], hours=1)
    call.delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM calls_search_document WHERE call_id = %s", [call.pk])
        assert cursor.fetchone() == (0,)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending deferred FK checks
        cursor.execute("TRUNCATE calls_call CASCADE")
        cursor.execute("SELECT count(*) FROM calls_search_document")
        assert cursor.fetchone() == (0,)


def test_segments_inserted_before_their_call_in_the_same_transaction_are_indexed(world: World) -> None:
    # Foreign keys are checked at commit: a bulk loader may write segments first.
    call_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO calls_transcriptsegment (call_id, position, speaker, start_s, end_s, text) "
            "VALUES (%s, 0, 'Casey', 0, 1, 'Platypus sighting')",
            [call_id],
        )
    Call.objects.create(
        id=call_id, org=world.a.org, owner=world.a.users["rep_sales"], title="Late call", started_at=START
    )
    assert ids(search_ok(world.a.org_key_actor, query="platypus")) == [str(call_id)]


# --- strategies --------------------------------------------------------------------------------------------------


def test_the_estimate_tells_common_words_from_rare_ones(world: World) -> None:
    for n in range(30):
        add_call(world.a, f"Call {n}", ["Pricing came up.", "Pricing again."], hours=n)
    add_call(world.a, "Zoo", ["A zebra walked in."], hours=40)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE calls_search_document")
    backend = search._Postgres()
    common = search.parse_query("pricing")
    rare = search.parse_query("zebra")
    assert common is not None
    assert rare is not None
    assert backend._selectivity(common) >= search.WALK_MIN_SELECTIVITY
    assert backend._selectivity(rare) < search.WALK_MIN_SELECTIVITY


def test_phrase_checks_go_on_past_chunks_of_calls_with_the_words_apart(
    world: World, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "MIN_CHUNK", 2)
    monkeypatch.setattr(search, "MAX_CHUNK", 4)
    older = [add_call(world.a, f"Old {n}", ["The security review is booked."], hours=n) for n in range(2)]
    for n in range(12):
        add_call(world.a, f"New {n}", ["A review of security, not the phrase."], hours=100 + n)
    actor = world.a.org_key_actor
    for sort in ("date_desc", "relevance", "date_asc"):
        found = walk_pages(actor, query='"security review"', sort=sort, page_size=1)
        assert sorted(found) == sorted(str(c.pk) for c in older), sort


def test_excluding_only_a_phrase_checks_every_call(world: World, strategy: str) -> None:
    keep = add_call(world.a, "Keep", ["A review of security."], hours=1)
    drop = add_call(world.a, "Drop", ["The security review."], hours=2)
    found = ids(search_ok(world.a.org_key_actor, query='-"security review"', page_size=50))
    assert str(keep.pk) in found
    assert str(drop.pk) not in found


# --- relevance ---------------------------------------------------------------------------------------------------


def test_ranks_depend_only_on_the_call_itself(world: World) -> None:
    call = add_call(world.a, "Gongly review", ["Gongly is cheaper."], hours=1)
    query = search.parse_query("Gongly")
    assert query is not None
    before = search._Postgres().scores(query, [call.pk])
    for n in range(5):
        add_call(world.a, f"Other {n}", ["Gongly Gongly Gongly."] * (n + 1), hours=10 + n)
    assert search._Postgres().scores(query, [call.pk]) == before


def _ranked_calls(w: OrgWorld) -> dict[str, Call]:
    # Newest first: n1..n3 form the window when it holds 3 calls; o1..o3 are older matches.
    return {
        "o3": add_call(w, "Intro", ["Gongly."], hours=1),
        "o2": add_call(w, "Gongly deep dive", ["Gongly Gongly."], hours=2),
        "o1": add_call(w, "Demo", ["Gongly came up."], hours=3),
        "n3": add_call(w, "Renewal", ["Gongly."], hours=4),
        "n2": add_call(w, "Gongly huddle", ["Nothing else."], hours=5),
        "n1": add_call(w, "Check-in", ["Gongly.", "Gongly again."], hours=6),
    }


def test_relevance_ranks_the_newest_matches_then_lists_older_ones_newest_first(
    world: World, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "RELEVANCE_WINDOW", 3)
    calls = _ranked_calls(world.a)
    name = {str(c.pk): k for k, c in calls.items()}
    actor = world.a.org_key_actor
    expected = ["n2", "n1", "n3", "o1", "o2", "o3"]  # window by rank (title first), then by date
    assert [name[i] for i in ids(search_ok(actor, query="Gongly", page_size=50))] == expected
    for size in (1, 2, 4):
        assert [name[i] for i in walk_pages(actor, query="Gongly", page_size=size)] == expected


def test_relevance_pages_stay_consistent_while_matching_calls_are_added(
    world: World, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "RELEVANCE_WINDOW", 3)
    calls = _ranked_calls(world.a)
    added: list[Call] = []

    def add(n: int) -> None:
        # After each page: a call that outranks everything, one that ranks last, one older than the window.
        added.append(add_call(world.a, f"Gongly Gongly war room {n}", ["Gongly " * 20], hours=10 + n))
        added.append(add_call(world.a, f"Sync {n}", ["gongly"], hours=20 + n))
        added.append(add_call(world.a, f"Archive dig {n}", ["gongly"], hours=-10 - n))

    seen = walk_pages(world.a.org_key_actor, between=add, query="Gongly", page_size=2)
    assert len(seen) == len(set(seen))  # nothing twice
    assert {str(c.pk) for c in calls.values()} <= set(seen)  # nothing that was there is skipped
    assert set(seen) <= {str(c.pk) for c in [*calls.values(), *added]}


def test_relevance_without_a_window_edge_also_stays_consistent(world: World, strategy: str) -> None:
    calls = _ranked_calls(world.a)
    added: list[Call] = []

    def add(n: int) -> None:
        added.append(add_call(world.a, f"Gongly summit {n}", ["Gongly " * 10], hours=30 + n))
        added.append(add_call(world.a, f"Aside {n}", ["gongly"], hours=-30 - n))

    seen = walk_pages(world.a.org_key_actor, between=add, query="Gongly", page_size=2)
    assert len(seen) == len(set(seen))
    assert {str(c.pk) for c in calls.values()} <= set(seen)


def test_a_cursor_keeps_its_window_edge_whatever_the_window_size_now(world: World, monkeypatch) -> None:
    monkeypatch.setattr(search, "RELEVANCE_WINDOW", 3)
    _ranked_calls(world.a)
    actor = world.a.org_key_actor
    first = search_ok(actor, query="Gongly", page_size=2)
    cursor = json.loads(base64.urlsafe_b64decode(first["next_cursor"] + "==").decode())
    assert (cursor["t"], cursor["f"] is not None) == (1, True)  # the window's edge travels with the cursor
    monkeypatch.setattr(search, "RELEVANCE_WINDOW", 500)  # e.g. the server was reconfigured meanwhile
    seen, next_cursor = ids(first), first["next_cursor"]
    while next_cursor:
        page = search_ok(actor, query="Gongly", page_size=2, cursor=next_cursor)
        seen, next_cursor = seen + ids(page), page["next_cursor"]
    assert len(seen) == len(set(seen)) == 6
