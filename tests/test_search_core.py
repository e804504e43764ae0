"""search_calls' full-text search, core behaviour, identical on PostgreSQL and SQLite.

This module runs in the ordinary (PostgreSQL) suite, and tests/test_search_sqlite.py runs it again in a
subprocess against SQLite, the embedded default: both databases must give the same answers. On PostgreSQL every case
runs twice, once per way of finding matches (`strategy`). What only one database can show (PostgreSQL's
chunks, window, estimates and corpus-independent ranks) is in tests/test_search_pg.py.

On top of the persona world (tests/conftest.py), `texts` adds calls with known transcripts to both
organisations (mirrored: same titles and words, so a leak across organisations shows up as an id from the
wrong one). Calls, then segments, are inserted with bulk_create: the search index must follow bulk writes.

    key              owner          title                          transcript (segment per item)
    gongly_title     rep_sales      Competitive huddle: Gongly     deals they compete on; "Their pricing ..."
    gongly_many      rep_sales      Northwind renewal              Gongly x3, "pricing review", "Gongly pricing"
    gongly_once      rep_sales      Harbor intro                   Gongly once; "The security review starts ..."
    phrase_split     rep_sales      Summit demo                    "review of security"; "priced it per seat"
    private_gongly   private_owner  Private Gongly escalation      (private) "Gongly offered a discount."
    long_segment     rep_sales      Evergreen deep dive            one 700-character segment naming Revvio
    archived_gongly  rep_sales      Old Gongly call                (archived) "Gongly again."
    internal_gongly  rep_sales      Team sync                      (internal meeting) "Gongly came up twice."
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from accounts.permissions import READ, WRITE, Actor
from accounts.selectors import actor_for_user
from attention_mcp.pagination import encode_cursor
from calls import search
from calls.models import Call, CallLabel, LabelCategory, LabelOption, TranscriptSegment
from calls.services import call_update
from mcpgateway import registry
from tests.factories import BASE_TIME, OrgWorld, World

pytestmark = pytest.mark.django_db

ActorFor = Callable[[User], Actor]

FILLER = "We walked through the rollout plan, the onboarding sessions and the reporting dashboards in detail. "
LONG_TEXT = FILLER * 3 + "Then they asked how we compare with Revvio on transcript accuracy. " + FILLER * 3

# key -> (owner persona, title, segments, flags)
CALLS: dict[str, tuple[str, str, tuple[str, ...], dict[str, bool]]] = {
    "gongly_title": (
        "rep_sales",
        "Competitive huddle: Gongly",
        ("Let's go through the deals where they compete.", "Their pricing is lower this quarter."),
        {},
    ),
    "gongly_many": (
        "rep_sales",
        "Northwind renewal",
        (
            "We use Gongly today.",
            "Gongly costs too much.",
            "Gongly support is slow.",
            "Our pricing review is next week.",
            "Gongly pricing is a problem.",
        ),
        {},
    ),
    "gongly_once": (
        "rep_sales",
        "Harbor intro",
        ("We looked at Gongly once.", "The security review starts Monday."),
        {},
    ),
    "phrase_split": (
        "rep_sales",
        "Summit demo",
        ("The review of security matters to them.", "We priced it per seat."),
        {},
    ),
    "private_gongly": (
        "private_owner",
        "Private Gongly escalation",
        ("Gongly offered a discount.",),
        {"private": True},
    ),
    "long_segment": ("rep_sales", "Evergreen deep dive", (LONG_TEXT,), {}),
    "archived_gongly": ("rep_sales", "Old Gongly call", ("Gongly again.",), {"archived": True}),
    "internal_gongly": ("rep_sales", "Team sync", ("Gongly came up twice.",), {"is_internal": True}),
}
GONGLY_LIVE = {"gongly_title", "gongly_many", "gongly_once", "private_gongly", "internal_gongly"}


@dataclass
class Texts:
    world: World
    a: dict[str, Call]
    b: dict[str, Call]

    def keys(self, page: dict[str, Any]) -> list[str]:
        """The page's calls as keys of org A's text calls; anything else shows as what it is."""
        names = {str(c.pk): k for k, c in self.a.items()}
        names |= {str(c.pk): f"b:{k}" for k, c in self.b.items()}
        names |= {str(c.pk): f"world:{k}" for w in (self.world.a, self.world.b) for k, c in w.calls.items()}
        return [names.get(c["id"], f"?:{c['id']}") for c in page["calls"]]


def _add_texts(w: OrgWorld) -> dict[str, Call]:
    calls: dict[str, Call] = {}
    for n, (key, (owner, title, _, flags)) in enumerate(CALLS.items()):
        user = w.users[owner]
        calls[key] = Call(
            org=w.org,
            owner=user,
            team=w.teams["sales"],
            title=title,
            started_at=BASE_TIME + timedelta(days=30, hours=n),
            duration_s=600,
            **flags,
        )
    Call.objects.bulk_create(calls.values())
    segments = [
        TranscriptSegment(
            call=calls[key],
            position=i,
            speaker=w.users[owner].full_name if i % 2 == 0 else "Casey Customer",
            start_s=10.0 * i,
            end_s=10.0 * i + 9.0,
            text=text,
        )
        for key, (owner, _, texts, _) in CALLS.items()
        for i, text in enumerate(texts)
    ]
    TranscriptSegment.objects.bulk_create(segments)
    return calls


# PostgreSQL finds matches two ways (calls/search.py: streamed from the index for rare words, or by walking
# the calls for common ones); every case runs with each, forced. SQLite has one way.
STRATEGIES = ["stream", "walk"] if "postgresql" in settings.DATABASES["default"]["ENGINE"] else ["fts5"]


@pytest.fixture(autouse=True, params=STRATEGIES)
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "walk":
        monkeypatch.setattr(search, "WALK_MIN_SELECTIVITY", 0.0)
    elif request.param == "stream":
        monkeypatch.setattr(search, "WALK_MIN_SELECTIVITY", 2.0)
    name: str = request.param
    return name


@pytest.fixture
def texts(world: World) -> Texts:
    # tests/test_search_sqlite.py runs this module on SQLite and checks it really did.
    report = os.environ.get("SEARCH_VENDOR_REPORT")
    if report:
        Path(report).write_text(connection.vendor)
    return Texts(world=world, a=_add_texts(world.a), b=_add_texts(world.b))


def call(actor: Actor, /, **args: Any) -> dict[str, Any]:
    result = registry.call_tool(registry.tools()["search_calls"], actor, args)
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    return result


def ok(actor: Actor, /, **args: Any) -> dict[str, Any]:
    result = call(actor, **args)
    assert result["isError"] is False, result
    page: dict[str, Any] = result["structuredContent"]
    return page


def error(actor: Actor, /, **args: Any) -> dict[str, Any]:
    result = call(actor, **args)
    assert result["isError"] is True, result
    body: dict[str, Any] = result["structuredContent"]
    return body


def walk(actor: Actor, **args: Any) -> list[dict[str, Any]]:
    """Every call of a listing, page after page."""
    calls: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        page = ok(actor, **args, **({"cursor": cursor} if cursor else {}))
        calls += page["calls"]
        cursor = page["next_cursor"]
        if cursor is None:
            return calls
    raise AssertionError("more than 50 pages")


def admin(texts: Texts) -> Actor:
    return texts.world.a.org_key_actor


# --- what matches ----------------------------------------------------------------------------------------------


def test_a_word_finds_calls_with_it_in_the_title_or_the_transcript_and_nothing_else(texts: Texts) -> None:
    page = ok(admin(texts), query="Gongly", page_size=50)
    assert set(texts.keys(page)) == GONGLY_LIVE


def test_case_and_punctuation_do_not_matter(texts: Texts) -> None:
    assert texts.keys(ok(admin(texts), query="GONGLY!!!")) == texts.keys(ok(admin(texts), query="gongly"))


def test_words_are_stemmed(texts: Texts) -> None:
    # "prices" finds "pricing" and "priced"
    page = ok(admin(texts), query="prices", page_size=50)
    assert set(texts.keys(page)) == {"gongly_title", "gongly_many", "phrase_split"}


def test_several_words_must_all_appear_but_anywhere_in_the_call(texts: Texts) -> None:
    page = ok(admin(texts), query="security review", page_size=50)
    assert set(texts.keys(page)) == {"gongly_once", "phrase_split"}
    # one word in the title, the other in the transcript
    assert set(texts.keys(ok(admin(texts), query="huddle pricing"))) == {"gongly_title"}


def test_a_quoted_phrase_matches_only_those_words_in_that_order(texts: Texts) -> None:
    page = ok(admin(texts), query='"security review"', page_size=50)
    assert texts.keys(page) == ["gongly_once"]


def test_or_accepts_either_alternative(texts: Texts) -> None:
    page = ok(admin(texts), query='Revvio or "security review"', page_size=50)
    assert set(texts.keys(page)) == {"long_segment", "gongly_once"}


def test_a_minus_excludes_calls_that_mention_a_word_or_phrase(texts: Texts) -> None:
    assert set(texts.keys(ok(admin(texts), query="Gongly -pricing", page_size=50))) == {
        "gongly_once",
        "private_gongly",
        "internal_gongly",
    }
    assert set(texts.keys(ok(admin(texts), query='Gongly -"security review"', page_size=50))) == GONGLY_LIVE - {
        "gongly_once"
    }


def test_a_query_of_exclusions_only_lists_every_other_call_newest_first(texts: Texts) -> None:
    page = ok(admin(texts), query="-Gongly", page_size=50)
    found = texts.keys(page)
    assert not set(found) & (GONGLY_LIVE | {"archived_gongly"})
    assert {"phrase_split", "long_segment"} <= set(found)
    started = [c["started_at"] for c in page["calls"]]
    assert started == sorted(started, reverse=True)


@pytest.mark.parametrize("query", ["the and of", "!!!", '""', "or", "-the", '"to be or not to be"'])
def test_a_query_with_no_searchable_word_is_an_invalid_argument(texts: Texts, query: str) -> None:
    body = error(admin(texts), query=query)
    assert (body["error"], body["field"]) == ("invalid_argument", "query")
    assert "leave query out" in body["message"]


def test_a_blank_query_lists_every_call(texts: Texts) -> None:
    assert ok(admin(texts), query="   ", page_size=50) == ok(admin(texts), page_size=50)


def test_query_bounds(texts: Texts) -> None:
    body = error(admin(texts), query="x" * 501)
    assert (body["error"], body["field"]) == ("invalid_argument", "query")
    body = error(admin(texts), query=" ".join(f"w{n}" for n in range(33)))
    assert (body["error"], body["field"]) == ("invalid_argument", "query")
    ok(admin(texts), query=" ".join(f"w{n}" for n in range(32)))
    for size in (0, 51):
        body = error(admin(texts), query="Gongly", page_size=size)
        assert (body["error"], body["field"]) == ("invalid_argument", "page_size")
    body = error(admin(texts), query="Gongly", sort="best")
    assert (body["error"], body["field"]) == ("invalid_argument", "sort")


def test_search_needs_the_read_scope(texts: Texts) -> None:
    actor = actor_for_user(user=texts.world.a.users["admin"], via="oauth", scopes=frozenset({WRITE}))
    assert error(actor, query="Gongly")["error"] == "insufficient_scope"
    reader = actor_for_user(user=texts.world.a.users["admin"], via="oauth", scopes=frozenset({READ}))
    assert ok(reader, query="Gongly")["calls"]


# --- order ---------------------------------------------------------------------------------------------------


def test_relevance_is_the_default_with_a_query_title_matches_first_then_more_mentions(texts: Texts) -> None:
    found = texts.keys(ok(admin(texts), query="Gongly", page_size=50))
    # Title matches first (the one with a transcript mention too ahead), then 4 mentions, then 1 each.
    assert found[:2] == ["private_gongly", "gongly_title"]
    assert found[2] == "gongly_many"
    assert set(found[3:]) == {"gongly_once", "internal_gongly"}
    assert ok(admin(texts), query="Gongly", page_size=50, sort="relevance") == ok(
        admin(texts), query="Gongly", page_size=50
    )


def test_date_sorts_order_text_matches_by_date(texts: Texts) -> None:
    newest = ok(admin(texts), query="Gongly", sort="date_desc", page_size=50)
    started = [c["started_at"] for c in newest["calls"]]
    assert started == sorted(started, reverse=True)
    oldest = ok(admin(texts), query="Gongly", sort="date_asc", page_size=50)
    assert [c["id"] for c in oldest["calls"]] == [c["id"] for c in reversed(newest["calls"])]


def test_relevance_without_a_query_lists_newest_first(texts: Texts) -> None:
    assert ok(admin(texts), sort="relevance", page_size=50) == ok(admin(texts), page_size=50)


@pytest.mark.parametrize("sort", ["relevance", "date_desc", "date_asc"])
def test_pages_return_each_match_once_in_the_order_of_one_long_page(texts: Texts, sort: str) -> None:
    actor = admin(texts)
    one_page = ok(actor, query="Gongly or pricing", sort=sort, page_size=50)["calls"]
    paged = walk(actor, query="Gongly or pricing", sort=sort, page_size=2)
    assert [c["id"] for c in paged] == [c["id"] for c in one_page]
    assert len(one_page) == 6


def test_a_relevance_cursor_only_continues_its_own_query(texts: Texts) -> None:
    first = ok(admin(texts), query="Gongly", page_size=2)
    assert first["next_cursor"]
    body = error(admin(texts), query="pricing", cursor=first["next_cursor"])
    assert (body["error"], body["field"]) == ("invalid_argument", "cursor")
    body = error(admin(texts), query="Gongly", sort="date_desc", cursor=first["next_cursor"])
    assert (body["error"], body["field"]) == ("invalid_argument", "cursor")


@pytest.mark.parametrize(
    "data",
    [
        {"k": "calls:relevance", "t": 1, "r": 0.5},
        {"k": "calls:relevance", "t": 3, "r": 0.5, "i": str(uuid.UUID(int=1))},
        {"k": "calls:relevance", "t": 1, "r": "high", "i": str(uuid.UUID(int=1))},
        {"k": "calls:relevance", "t": 2, "i": str(uuid.UUID(int=1)), "s": "2025-01-01T00:00:00+00:00"},
        {"k": "calls:relevance", "t": 1, "r": 0.5, "i": "not-a-uuid"},
        {"k": "calls:relevance", "t": 1, "r": 0.5, "i": str(uuid.UUID(int=1)), "f": "yesterday", "fi": "x"},
    ],
    ids=["no-id", "bad-tier", "bad-rank", "tier-2-without-window", "bad-id", "bad-floor"],
)
def test_a_malformed_relevance_cursor_is_an_invalid_argument(texts: Texts, data: dict[str, Any]) -> None:
    first = ok(admin(texts), query="Gongly", page_size=2)
    fingerprint = json.loads(_b64(first["next_cursor"]))["q"]
    body = error(admin(texts), query="Gongly", cursor=encode_cursor({**data, "q": fingerprint}))
    assert (body["error"], body["field"]) == ("invalid_argument", "cursor")


def _b64(cursor: str) -> str:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()


# --- matching passages -----------------------------------------------------------------------------------------


def test_matches_give_each_passage_its_start_speaker_and_marked_words(texts: Texts) -> None:
    page = ok(admin(texts), query="Gongly", page_size=50)
    once = next(c for c in page["calls"] if c["id"] == str(texts.a["gongly_once"].pk))
    owner = texts.world.a.users["rep_sales"].full_name
    assert once["matches"] == [{"start_s": 0.0, "speaker": owner, "text": "We looked at **Gongly** once."}]
    title_only = next(c for c in page["calls"] if c["id"] == str(texts.a["gongly_title"].pk))
    assert title_only["matches"] == []


def test_at_most_three_passages_those_matching_the_whole_query_first_in_transcript_order(texts: Texts) -> None:
    page = ok(admin(texts), query="Gongly pricing", page_size=50)
    many = next(c for c in page["calls"] if c["id"] == str(texts.a["gongly_many"].pk))
    # Five segments match a word; the one with both words is kept although it comes last.
    assert [m["start_s"] for m in many["matches"]] == [0.0, 10.0, 40.0]
    assert many["matches"][2]["text"] == "**Gongly pricing** is a problem."
    assert many["matches"][2]["speaker"] == texts.world.a.users["rep_sales"].full_name
    assert many["matches"][1]["speaker"] == "Casey Customer"


def test_a_phrase_is_marked_as_one_passage(texts: Texts) -> None:
    (found,) = ok(admin(texts), query='"security review"')["calls"]
    assert found["matches"] == [
        {"start_s": 10.0, "speaker": "Casey Customer", "text": "The **security review** starts Monday."}
    ]


def test_a_long_segment_is_cut_down_to_the_fragment_around_the_match(texts: Texts) -> None:
    (found,) = ok(admin(texts), query="Revvio")["calls"]
    (match,) = found["matches"]
    assert "**Revvio**" in match["text"]
    assert len(match["text"]) < len(LONG_TEXT) / 2


def test_calls_that_match_only_by_title_or_exclusion_have_no_passages(texts: Texts) -> None:
    page = ok(admin(texts), query="-Gongly", page_size=50)
    assert all(c["matches"] == [] for c in page["calls"])


# --- filters and visibility ------------------------------------------------------------------------------------


def test_every_filter_combines_with_the_text_query(texts: Texts) -> None:
    a = texts.world.a
    category = LabelCategory.objects.create(org=a.org, name="Call Type")
    option = LabelOption.objects.create(category=category, value="Renewal")
    CallLabel.objects.create(call=texts.a["gongly_many"], category=category, option=option)
    actor = admin(texts)
    base = {"query": "Gongly", "page_size": 50}
    assert set(texts.keys(ok(actor, **base, hide_internal=True))) == GONGLY_LIVE - {"internal_gongly"}
    assert set(texts.keys(ok(actor, **base, labels={"Call Type": "Renewal"}))) == {"gongly_many"}
    assert set(texts.keys(ok(actor, **base, rep_ids=[str(a.users["private_owner"].pk)]))) == {"private_gongly"}
    assert set(texts.keys(ok(actor, **base, include_archived=True))) == GONGLY_LIVE | {"archived_gongly"}
    day = (BASE_TIME + timedelta(days=30)).date().isoformat()
    assert set(texts.keys(ok(actor, **base, from_date=day, to_date=day, team_ids=[str(a.teams["sales"].pk)]))) == (
        GONGLY_LIVE
    )
    assert ok(actor, **base, to_date=(BASE_TIME + timedelta(days=29)).date().isoformat())["calls"] == []
    combined = ok(
        actor,
        **base,
        hide_internal=True,
        rep_emails=[a.users["rep_sales"].email],
        participant_emails=[],
        sort="date_asc",
    )
    assert texts.keys(combined) == ["gongly_title", "gongly_many", "gongly_once"]


def test_a_teammate_never_finds_a_private_call_the_owner_and_admin_do(texts: Texts, actor_for: ActorFor) -> None:
    users = texts.world.a.users
    assert "private_gongly" not in texts.keys(ok(actor_for(users["rep_sales"]), query="Gongly", page_size=50))
    assert ok(actor_for(users["rep_sales"]), query="escalation")["calls"] == []
    assert texts.keys(ok(actor_for(users["private_owner"]), query="escalation")) == ["private_gongly"]
    assert texts.keys(ok(actor_for(users["admin"]), query="escalation")) == ["private_gongly"]


def test_a_rep_of_another_team_finds_nothing_of_sales(texts: Texts, actor_for: ActorFor) -> None:
    assert ok(actor_for(texts.world.a.users["outsider_rep"]), query="Gongly")["calls"] == []


def test_search_never_crosses_organisations(texts: Texts) -> None:
    page = ok(texts.world.b.org_key_actor, query="Gongly", page_size=50)
    assert set(texts.keys(page)) == {f"b:{k}" for k in GONGLY_LIVE}


def test_another_orgs_deal_or_team_is_not_found_and_nothing_changes(texts: Texts) -> None:
    before = (Call.objects.count(), TranscriptSegment.objects.count())
    foreign_deal = str(texts.world.b.deals["globex"].pk)
    assert error(admin(texts), query="Gongly", deal_id=foreign_deal)["error"] == "not_found"
    foreign_team = str(texts.world.b.teams["sales"].pk)
    assert error(admin(texts), query="Gongly", team_ids=[foreign_team])["error"] == "not_found"
    assert (Call.objects.count(), TranscriptSegment.objects.count()) == before


# --- the index follows every write -------------------------------------------------------------------------------


def test_a_renamed_call_is_found_by_its_new_title_and_still_by_its_transcript(texts: Texts) -> None:
    call_update(actor=admin(texts), call_id=texts.a["phrase_split"].pk, title="Zeppelin business review")
    assert texts.keys(ok(admin(texts), query="zeppelin")) == ["phrase_split"]
    assert ok(admin(texts), query="Summit")["calls"] == []
    assert "phrase_split" in texts.keys(ok(admin(texts), query="priced"))


def test_segments_added_one_by_one_or_in_bulk_are_searchable_at_once(texts: Texts) -> None:
    call_obj = texts.a["phrase_split"]
    TranscriptSegment.objects.create(call=call_obj, position=10, speaker="Casey", start_s=100, end_s=101, text="Kiwi")
    TranscriptSegment.objects.bulk_create(
        [
            TranscriptSegment(call=call_obj, position=11, speaker="Casey", start_s=110, end_s=111, text="Mango"),
            TranscriptSegment(call=texts.a["gongly_once"], position=9, speaker="R", start_s=90, end_s=91, text="Mango"),
        ]
    )
    assert texts.keys(ok(admin(texts), query="kiwi")) == ["phrase_split"]
    assert set(texts.keys(ok(admin(texts), query="mango"))) == {"phrase_split", "gongly_once"}
    # the older segments still count
    assert texts.keys(ok(admin(texts), query="kiwi priced")) == ["phrase_split"]


def test_changed_and_deleted_segments_leave_the_index(texts: Texts) -> None:
    TranscriptSegment.objects.filter(call=texts.a["long_segment"]).update(text="Nothing about vendors.")
    assert ok(admin(texts), query="Revvio")["calls"] == []
    assert texts.keys(ok(admin(texts), query="vendors")) == ["long_segment"]
    TranscriptSegment.objects.filter(call=texts.a["gongly_once"], position=1).delete()
    assert ok(admin(texts), query='"security review"')["calls"] == []
    assert "gongly_once" in texts.keys(ok(admin(texts), query="Gongly", page_size=50))


def test_a_deleted_call_leaves_the_index(texts: Texts) -> None:
    texts.a["gongly_once"].delete()
    assert "gongly_once" not in texts.keys(ok(admin(texts), query="Gongly", page_size=50))
    assert ok(admin(texts), query="Harbor")["calls"] == []


def test_a_search_index_that_lost_its_triggers_is_repaired_after_migrate(texts: Texts) -> None:
    # SQLite rebuilds a table for many schema changes, which drops its triggers; PostgreSQL never needs this.
    if connection.vendor != "sqlite":
        assert search.sqlite_repair_index() is False
        return
    assert search.sqlite_repair_index() is False  # all there: nothing to do
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER calls_call_fts_insert")
        cursor.execute("DROP TRIGGER calls_segment_fts_insert")
    w = texts.world.a
    late = Call.objects.create(org=w.org, owner=w.users["rep_sales"], title="Walrus", started_at=BASE_TIME)
    TranscriptSegment.objects.create(call=late, position=0, speaker="Casey", start_s=0, end_s=1, text="Narwhal")
    assert ok(admin(texts), query="walrus")["calls"] == []  # the index missed the writes
    assert search.sqlite_repair_index() is True
    assert texts.keys(ok(admin(texts), query="walrus narwhal")) == [f"?:{late.pk}"]
    TranscriptSegment.objects.create(call=late, position=1, speaker="Casey", start_s=1, end_s=2, text="Beluga")
    assert texts.keys(ok(admin(texts), query="beluga")) == [f"?:{late.pk}"]  # and follows writes again
