"""The first tools over HTTP (get_me, list_teams, search_calls, get_call_details, get_call_transcript,
list_api_keys, create_api_key, delete_api_key), and the scope, role and argument checks every tool goes
through, against a live Daphne with an org-level key and with users' own keys.

The module's calls (all in 2025, in `shared_org`; reps see their own calls, calls they took part in, and
non-private calls of their teams' members, not of sub-teams):

    key         title                       owner      team     started           notes
    discovery   Acme pricing discovery      rep        Sales    03-01 10:00       label Call Type=Discovery; 5 segments
    demo        Globex demo                 emea_rep   EMEA     03-05 15:00       label Call Type=Demo
    sync        Support sync                support    Support  03-10 09:00       internal meeting
    archived    Archived pricing review     rep        Sales    02-01 12:00       archived
    private     Private pricing chat        emea_rep   EMEA     03-07 11:00       private
    bulk0..6    Bulk call N                 manager    Sales    01-0N 08:00       bulk3 and bulk4 share a start
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accounts.models import User
from accounts.permissions import Actor
from apikeys.models import ApiKey
from calls.models import Call, CallLabel, Insight, LabelCategory, LabelOption, Participant, TranscriptSegment
from mcpgateway import registry
from tests.support.mcp import (
    McpOrg,
    assert_invalid_token,
    committed,
    make_org,
    post,
    request,
    result_of,
    rpc,
    tool_error,
    tool_ok,
)

pytest_plugins = ["tests.support.mcp_fixtures"]  # fixtures: mcp_url, shared_org, fresh_org
pytestmark = pytest.mark.django_db

PING = request("ping")


@dataclass
class CallsWorld:
    org: McpOrg
    other: McpOrg
    users: dict[str, User]
    calls: dict[str, Call]
    tokens: dict[str, str]

    def id(self, key: str) -> str:
        return str(self.calls[key].pk)

    def keys_of(self, ids: list[str]) -> set[str]:
        by_id = {str(c.pk): k for k, c in self.calls.items()}
        return {by_id.get(i, f"foreign:{i}") for i in ids}


def _at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


def _add_call(
    o: McpOrg,
    title: str,
    owner: User,
    team: str | None,
    started: datetime,
    *,
    private: bool = False,
    archived: bool = False,
    internal: bool = False,
    segments: tuple[tuple[str, float, float, str], ...] = (),
    labels: dict[str, LabelOption] | None = None,
    guests: tuple[tuple[str, str], ...] = (("Casey Buyer", "casey@globex.example"),),
) -> Call:
    call = Call.objects.create(
        org=o.org,
        owner=owner,
        team=o.teams[team] if team else None,
        title=title,
        started_at=started,
        duration_s=1800,
        private=private,
        archived=archived,
        is_internal=internal,
    )
    Participant.objects.create(
        call=call, name=owner.full_name, email=owner.email, affiliation="internal", organizer=True, user=owner
    )
    if not internal:
        for name, email in guests:
            Participant.objects.create(call=call, name=name, email=email, affiliation="external")
    for position, (speaker, start, end, text) in enumerate(segments):
        TranscriptSegment.objects.create(
            call=call, position=position, speaker=speaker, start_s=start, end_s=end, text=text
        )
    for option in (labels or {}).values():
        CallLabel.objects.create(call=call, category=option.category, option=option)
    return call


def build_calls_world() -> CallsWorld:
    o = make_org()
    other = make_org()
    users = {
        "admin": o.admin,
        "rep": o.rep,
        "emea_rep": o.add_user("emea_rep", "sales_rep", ("emea",)),
        "manager": o.add_user("manager", "manager", ("sales",)),
        "support": o.add_user("support", "sales_rep", ("support",)),
    }
    call_type = LabelCategory.objects.create(org=o.org, name="Call Type")
    discovery_opt = LabelOption.objects.create(category=call_type, value="Discovery", position=0)
    demo_opt = LabelOption.objects.create(category=call_type, value="Demo", position=1)
    rep = users["rep"]
    calls = {
        "discovery": _add_call(
            o,
            "Acme pricing discovery",
            rep,
            "sales",
            _at(3, 1, 10),
            labels={"Call Type": discovery_opt},
            segments=(
                (rep.full_name, 5.0, 12.0, "Thanks for joining, Casey."),
                ("Casey Buyer", 12.0, 30.5, "We have a pricing objection about the annual plan."),
                (rep.full_name, 30.5, 61.0, "Let me walk you through the discount options."),
                ("Casey Buyer", 61.0, 75.0, "That sounds fair; send the proposal."),
                (rep.full_name, 3723.0, 3730.0, "Talk next week."),
            ),
        ),
        "demo": _add_call(
            o,
            "Globex demo",
            users["emea_rep"],
            "emea",
            _at(3, 5, 15),
            labels={"Call Type": demo_opt},
            segments=(("Casey Buyer", 0.0, 10.0, "Our budget is approved."),),
        ),
        "sync": _add_call(o, "Support sync", users["support"], "support", _at(3, 10, 9), internal=True),
        "archived": _add_call(
            o,
            "Archived pricing review",
            rep,
            "sales",
            _at(2, 1, 12),
            archived=True,
            segments=(("Casey Buyer", 0.0, 5.0, "pricing again"),),
        ),
        "private": _add_call(o, "Private pricing chat", users["emea_rep"], "emea", _at(3, 7, 11), private=True),
    }
    for n in range(7):
        day = 4 if n == 3 else n + 1  # bulk3 and bulk4 start at the same moment: the id breaks the tie
        calls[f"bulk{n}"] = _add_call(o, f"Bulk call {n}", users["manager"], "sales", _at(1, day, 8))
    Insight.objects.create(
        call=calls["discovery"],
        summary="Pricing objection handled.",
        action_items=["Send proposal"],
        topics=["pricing"],
    )
    # A call in the other organisation, with the same title.
    _add_call(other, "Acme pricing discovery", other.rep, "sales", _at(3, 1, 10))
    _emea_row, emea_key = o.user_key(users["emea_rep"], "emea key")
    return CallsWorld(
        org=o,
        other=other,
        users=users,
        calls=calls,
        tokens={"org": o.org_key, "admin": o.admin_key, "rep": o.rep_key, "emea_rep": emea_key},
    )


@pytest.fixture(scope="module")
def world(mcp_url: str, django_db_blocker: Any) -> CallsWorld:
    with django_db_blocker.unblock():
        return build_calls_world()


def search(url: str, token: str, **args: Any) -> dict[str, Any]:
    return tool_ok(url, token, "search_calls", args)


# --- get_me, list_teams ----------------------------------------------------------------------------------------------


def test_get_me_with_an_org_key(mcp_url: str, world: CallsWorld) -> None:
    me = tool_ok(mcp_url, world.tokens["org"], "get_me")
    assert me["user"] is None
    assert me["org"] == {"id": str(world.org.org.pk), "name": world.org.org.name, "slug": world.org.org.slug}
    assert me["teams"] == []
    assert me["auth"] == {"kind": "org_key", "scopes": ["mcp:read", "mcp:write"]}


def test_get_me_with_a_reps_user_key(mcp_url: str, world: CallsWorld) -> None:
    me = tool_ok(mcp_url, world.tokens["rep"], "get_me")
    rep, teams = world.users["rep"], world.org.teams
    assert me["user"]["id"] == str(rep.pk)
    assert me["user"]["email"] == rep.email
    assert me["user"]["primary_team"] == {"id": str(teams["sales"].pk), "name": teams["sales"].name}
    assert me["roles"] == ["sales_rep"]
    assert me["teams"] == [
        {"id": str(teams["sales"].pk), "name": teams["sales"].name, "primary": True},
        {"id": str(teams["support"].pk), "name": teams["support"].name, "primary": False},
    ]
    assert me["auth"] == {"kind": "user_key", "scopes": ["mcp:read", "mcp:write"]}


def test_get_me_with_an_admins_user_key(mcp_url: str, world: CallsWorld) -> None:
    me = tool_ok(mcp_url, world.tokens["admin"], "get_me")
    assert me["user"]["email"] == world.users["admin"].email
    assert me["roles"] == ["admin"]
    assert me["teams"] == []
    assert me["user"]["primary_team"] is None


def test_list_teams_is_a_tree_in_order(mcp_url: str, world: CallsWorld) -> None:
    for token in (world.tokens["org"], world.tokens["rep"]):
        teams = tool_ok(mcp_url, token, "list_teams")["teams"]
        by_id = {t["id"]: t for t in teams}
        t = world.org.teams
        assert set(by_id) == {str(t["sales"].pk), str(t["emea"].pk), str(t["support"].pk)}
        order = [x["id"] for x in teams]
        sales, emea, support = by_id[str(t["sales"].pk)], by_id[str(t["emea"].pk)], by_id[str(t["support"].pk)]
        # parents first, and a sub-team right under its parent
        assert order.index(emea["id"]) == order.index(sales["id"]) + 1
        assert (sales["depth"], emea["depth"], support["depth"]) == (0, 1, 0)
        assert (sales["parent_team_id"], emea["parent_team_id"], support["parent_team_id"]) == (None, sales["id"], None)
        assert sales["name"] == f"[{world.org.org.name}] Sales"
        # Sales: rep + manager; EMEA: emea_rep; Support: rep + support
        assert (sales["member_count"], emea["member_count"], support["member_count"]) == (2, 1, 2)
        assert all(x["archived"] is False for x in teams)


# --- search_calls ----------------------------------------------------------------------------------------------------


def test_search_everything_newest_first(mcp_url: str, world: CallsWorld) -> None:
    page = search(mcp_url, world.tokens["org"], page_size=50)
    ids = [c["id"] for c in page["calls"]]
    assert world.keys_of(ids) == set(world.calls) - {"archived"}
    started = [c["started_at"] for c in page["calls"]]
    assert started == sorted(started, reverse=True)
    assert page["next_cursor"] is None


def test_search_result_shape(mcp_url: str, world: CallsWorld) -> None:
    page = search(mcp_url, world.tokens["org"], query="pricing objection")
    (call,) = page["calls"]
    rep = world.users["rep"]
    assert call["id"] == world.id("discovery")
    assert call["title"] == "Acme pricing discovery"
    assert call["owner"] == {"id": str(rep.pk), "name": rep.full_name, "email": rep.email}
    assert call["team"] == {"id": str(world.org.teams["sales"].pk), "name": world.org.teams["sales"].name}
    assert call["labels"] == {"Call Type": "Discovery"}
    assert call["participants"][0] == {
        "name": rep.full_name,
        "email": rep.email,
        "affiliation": "internal",
        "organizer": True,
    }
    assert call["participants"][1]["affiliation"] == "external"
    assert call["private"] is False
    assert call["archived"] is False
    assert call["url"].endswith(f"/calls/{call['id']}")
    assert call["matches"] == [
        {"start_s": 12.0, "speaker": "Casey Buyer", "text": "We have a **pricing objection** about the annual plan."}
    ]


def test_search_by_text_in_titles_and_transcripts(mcp_url: str, world: CallsWorld) -> None:
    token = world.tokens["org"]
    assert world.keys_of([c["id"] for c in search(mcp_url, token, query="PRICING")["calls"]]) == {
        "discovery",
        "private",
    }
    assert world.keys_of([c["id"] for c in search(mcp_url, token, query="budget")["calls"]]) == {"demo"}
    assert search(mcp_url, token, query="no such words anywhere")["calls"] == []


def test_search_by_dates_inclusive(mcp_url: str, world: CallsWorld) -> None:
    token = world.tokens["org"]
    page = search(mcp_url, token, from_date="2025-03-05", to_date="2025-03-07")
    assert world.keys_of([c["id"] for c in page["calls"]]) == {"demo", "private"}
    page = search(mcp_url, token, to_date="2025-01-02")
    assert world.keys_of([c["id"] for c in page["calls"]]) == {"bulk0", "bulk1"}
    error = tool_error(mcp_url, token, "search_calls", {"from_date": "2025-03-07", "to_date": "2025-03-05"})
    assert (error["error"], error["field"]) == ("invalid_argument", "from_date")


def test_search_by_rep_emails_and_ids(mcp_url: str, world: CallsWorld) -> None:
    token = world.tokens["org"]
    emea = world.users["emea_rep"]
    by_email = search(mcp_url, token, rep_emails=[emea.email.upper()])
    assert world.keys_of([c["id"] for c in by_email["calls"]]) == {"demo", "private"}
    by_id = search(mcp_url, token, rep_ids=[str(emea.pk)])
    assert by_id["calls"] == by_email["calls"]


def test_search_by_team_includes_sub_teams(mcp_url: str, world: CallsWorld) -> None:
    token, teams = world.tokens["org"], world.org.teams
    sales = search(mcp_url, token, team_ids=[str(teams["sales"].pk)], page_size=50)
    assert world.keys_of([c["id"] for c in sales["calls"]]) == {"discovery", "demo", "private"} | {
        f"bulk{n}" for n in range(7)
    }
    emea = search(mcp_url, token, team_ids=[str(teams["emea"].pk)])
    assert world.keys_of([c["id"] for c in emea["calls"]]) == {"demo", "private"}
    both = search(mcp_url, token, team_ids=[str(teams["emea"].pk), str(teams["support"].pk)])
    assert world.keys_of([c["id"] for c in both["calls"]]) == {"demo", "private", "sync"}


def test_search_by_another_orgs_team_is_not_found(mcp_url: str, world: CallsWorld) -> None:
    foreign = str(world.other.teams["sales"].pk)
    error = tool_error(mcp_url, world.tokens["org"], "search_calls", {"team_ids": [foreign]})
    assert error["error"] == "not_found"
    missing = tool_error(mcp_url, world.tokens["org"], "search_calls", {"team_ids": [str(uuid.uuid4())]})
    assert missing["error"] == "not_found"
    assert set(error) == set(missing)


def test_search_by_labels(mcp_url: str, world: CallsWorld) -> None:
    token = world.tokens["org"]
    page = search(mcp_url, token, labels={"Call Type": "Demo"})
    assert world.keys_of([c["id"] for c in page["calls"]]) == {"demo"}
    assert search(mcp_url, token, labels={"Call Type": "Negotiation"})["calls"] == []
    error = tool_error(mcp_url, token, "search_calls", {"labels": {"No Such Label": "x"}})
    assert error["error"] == "not_found"


def test_search_hides_archived_calls_unless_asked(mcp_url: str, world: CallsWorld) -> None:
    token = world.tokens["org"]
    assert world.keys_of([c["id"] for c in search(mcp_url, token, query="pricing review")["calls"]]) == set()
    page = search(mcp_url, token, query="pricing", include_archived=True)
    assert world.keys_of([c["id"] for c in page["calls"]]) == {"discovery", "private", "archived"}
    archived = next(c for c in page["calls"] if c["id"] == world.id("archived"))
    assert archived["archived"] is True


def test_search_by_participant_emails(mcp_url: str, world: CallsWorld) -> None:
    token = world.tokens["org"]
    guests = search(mcp_url, token, participant_emails=["CASEY@globex.example"], page_size=50)
    assert world.keys_of([c["id"] for c in guests["calls"]]) == set(world.calls) - {"archived", "sync"}
    support = search(mcp_url, token, participant_emails=[world.users["support"].email])
    assert world.keys_of([c["id"] for c in support["calls"]]) == {"sync"}


def test_search_hide_internal(mcp_url: str, world: CallsWorld) -> None:
    page = search(mcp_url, world.tokens["org"], hide_internal=True, page_size=50)
    assert "sync" not in world.keys_of([c["id"] for c in page["calls"]])


@pytest.mark.parametrize("sort", ["date_desc", "date_asc"])
def test_cursor_pagination_returns_each_call_exactly_once(mcp_url: str, world: CallsWorld, sort: str) -> None:
    token = world.tokens["org"]
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        args: dict[str, Any] = {"page_size": 4, "sort": sort}
        if cursor:
            args["cursor"] = cursor
        page = search(mcp_url, token, **args)
        pages += 1
        seen += [c["id"] for c in page["calls"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert pages == 3  # 11 visible calls: 4 + 4 + 3
    assert len(seen) == len(set(seen)) == 11
    assert world.keys_of(seen) == set(world.calls) - {"archived"}
    full = [c["id"] for c in search(mcp_url, token, page_size=50, sort=sort)["calls"]]
    assert seen == full


def test_pagination_keeps_the_filters_of_the_query(mcp_url: str, world: CallsWorld) -> None:
    token = world.tokens["org"]
    first = search(mcp_url, token, query="bulk", page_size=5)
    second = search(mcp_url, token, query="bulk", page_size=5, cursor=first["next_cursor"])
    ids = [c["id"] for c in first["calls"] + second["calls"]]
    assert world.keys_of(ids) == {f"bulk{n}" for n in range(7)}
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    ["not a cursor!", "eyJrIjoiY2FsbHM6ZGF0ZV9kZXNjIn0", "e30", "W10", "eyJrIjoiY2FsbHM6ZGF0ZV9hc2MiLCJzIjoieCJ9"],
    ids=["garbage", "missing-position", "empty-object", "list", "other-sort"],
)
def test_malformed_cursor_is_invalid_argument(mcp_url: str, world: CallsWorld, cursor: str) -> None:
    error = tool_error(mcp_url, world.tokens["org"], "search_calls", {"cursor": cursor})
    assert (error["error"], error["field"]) == ("invalid_argument", "cursor")


def test_a_rep_searches_only_what_they_can_see(mcp_url: str, world: CallsWorld) -> None:
    page = search(mcp_url, world.tokens["rep"], page_size=50, include_archived=True)
    # own calls, and non-private calls of Sales and Support members; not EMEA's (a sub-team), not private ones
    assert world.keys_of([c["id"] for c in page["calls"]]) == {"discovery", "archived", "sync"} | {
        f"bulk{n}" for n in range(7)
    }
    assert search(mcp_url, world.tokens["rep"], query="budget")["calls"] == []


def test_search_never_crosses_organisations(mcp_url: str, world: CallsWorld) -> None:
    page = search(mcp_url, world.other.org_key, query="pricing", include_archived=True)
    assert len(page["calls"]) == 1
    assert world.keys_of([c["id"] for c in page["calls"]]) == {f"foreign:{page['calls'][0]['id']}"}


# --- get_call_details ------------------------------------------------------------------------------------------------


def test_call_details_with_a_text_transcript(mcp_url: str, world: CallsWorld) -> None:
    details = tool_ok(mcp_url, world.tokens["org"], "get_call_details", {"call_id": world.id("discovery")})
    rep = world.users["rep"].full_name
    assert details["id"] == world.id("discovery")
    assert [p["name"] for p in details["participants"]] == [rep, "Casey Buyer"]
    assert details["summary"] == "Pricing objection handled."
    assert details["action_items"] == ["Send proposal"]
    assert details["transcript_segments"] is None
    assert details["transcript_truncated"] is False
    assert details["transcript_text"].split("\n") == [
        f"[00:05] {rep}: Thanks for joining, Casey.",
        "[00:12] Casey Buyer: We have a pricing objection about the annual plan.",
        f"[00:30] {rep}: Let me walk you through the discount options.",
        "[01:01] Casey Buyer: That sounds fair; send the proposal.",
        f"[1:02:03] {rep}: Talk next week.",
    ]


def test_call_details_with_segments(mcp_url: str, world: CallsWorld) -> None:
    args = {"call_id": world.id("discovery"), "transcript_format": "segments"}
    details = tool_ok(mcp_url, world.tokens["rep"], "get_call_details", args)
    assert details["transcript_text"] is None
    segments = details["transcript_segments"]
    assert [s["position"] for s in segments] == [0, 1, 2, 3, 4]
    assert segments[1] == {
        "position": 1,
        "speaker": "Casey Buyer",
        "start_s": 12.0,
        "end_s": 30.5,
        "text": "We have a pricing objection about the annual plan.",
    }


def test_call_details_without_transcript(mcp_url: str, world: CallsWorld) -> None:
    args = {"call_id": world.id("demo"), "include_transcript": False}
    details = tool_ok(mcp_url, world.tokens["org"], "get_call_details", args)
    assert details["transcript_text"] is None
    assert details["transcript_segments"] is None
    assert details["labels"] == {"Call Type": "Demo"}


def test_archived_call_is_reachable_by_id(mcp_url: str, world: CallsWorld) -> None:
    details = tool_ok(mcp_url, world.tokens["rep"], "get_call_details", {"call_id": world.id("archived")})
    assert details["archived"] is True


def test_call_not_visible_is_not_found_like_a_missing_one(mcp_url: str, world: CallsWorld) -> None:
    rep = world.tokens["rep"]
    hidden_id, missing_id = world.id("demo"), str(uuid.uuid4())
    hidden = tool_error(mcp_url, rep, "get_call_details", {"call_id": hidden_id})
    missing = tool_error(mcp_url, rep, "get_call_details", {"call_id": missing_id})
    assert hidden == {"error": "not_found", "message": f"call {hidden_id} not found"}
    assert missing == {"error": "not_found", "message": f"call {missing_id} not found"}
    private = tool_error(mcp_url, rep, "get_call_details", {"call_id": world.id("private")})
    assert private["error"] == "not_found"
    # Another organisation's call, by its real id, is just as absent.
    foreign = search(mcp_url, world.other.org_key)["calls"][0]["id"]
    assert tool_error(mcp_url, world.tokens["org"], "get_call_details", {"call_id": foreign}) == {
        "error": "not_found",
        "message": f"call {foreign} not found",
    }
    # ... and so is its transcript.
    assert tool_error(mcp_url, rep, "get_call_transcript", {"call_id": hidden_id})["error"] == "not_found"


# --- get_call_transcript ---------------------------------------------------------------------------------------------


def test_transcript_pages_in_order(mcp_url: str, world: CallsWorld) -> None:
    token = world.tokens["rep"]
    texts: list[str] = []
    positions: list[int] = []
    cursor = None
    pages = 0
    while True:
        args: dict[str, Any] = {"call_id": world.id("discovery"), "page_size": 2}
        if cursor:
            args["cursor"] = cursor
        page = tool_ok(mcp_url, token, "get_call_transcript", args)
        pages += 1
        assert page["call_id"] == world.id("discovery")
        assert page["title"] == "Acme pricing discovery"
        assert page["total_segments"] == 5
        positions += [s["position"] for s in page["segments"]]
        texts += [s["text"] for s in page["segments"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert positions == [0, 1, 2, 3, 4]
    assert texts[1] == "We have a pricing objection about the annual plan."


def test_transcript_cursor_of_another_call_is_invalid(mcp_url: str, world: CallsWorld) -> None:
    token = world.tokens["org"]
    first = tool_ok(mcp_url, token, "get_call_transcript", {"call_id": world.id("discovery"), "page_size": 1})
    error = tool_error(
        mcp_url, token, "get_call_transcript", {"call_id": world.id("demo"), "cursor": first["next_cursor"]}
    )
    assert (error["error"], error["field"]) == ("invalid_argument", "cursor")


def test_transcript_of_a_call_without_one(mcp_url: str, world: CallsWorld) -> None:
    page = tool_ok(mcp_url, world.tokens["org"], "get_call_transcript", {"call_id": world.id("sync")})
    assert page["segments"] == []
    assert page["total_segments"] == 0
    assert page["next_cursor"] is None


# --- API keys --------------------------------------------------------------------------------------------------------


def _all_tokens(world: CallsWorld) -> list[str]:
    return [*world.tokens.values(), world.other.org_key]


def test_list_api_keys_never_shows_a_token(mcp_url: str, world: CallsWorld) -> None:
    listing = tool_ok(mcp_url, world.tokens["org"], "list_api_keys")
    names = {k["name"] for k in listing["api_keys"]}
    assert {"org key", "admin key", "rep key", "emea key"} <= names
    text = json.dumps(listing)
    for token in _all_tokens(world):
        assert token not in text
        assert token.rsplit(".", 1)[1] not in text
    for key in listing["api_keys"]:
        assert "token" not in key
        assert key["prefix"].startswith("ak_")
        assert key["prefix"].endswith("…")
    rep_key = next(k for k in listing["api_keys"] if k["name"] == "rep key")
    assert rep_key["org_level"] is False
    assert rep_key["user_email"] == world.users["rep"].email
    org_key = next(k for k in listing["api_keys"] if k["name"] == "org key")
    assert org_key["org_level"] is True
    assert org_key["user_email"] is None
    # Used keys say so (the live server records the use).
    assert org_key["last_used_at"] is not None


def test_a_rep_lists_only_their_own_keys(mcp_url: str, world: CallsWorld) -> None:
    listing = tool_ok(mcp_url, world.tokens["rep"], "list_api_keys")
    assert [k["name"] for k in listing["api_keys"]] == ["rep key"]
    admin_listing = tool_ok(mcp_url, world.tokens["admin"], "list_api_keys")
    assert {"org key", "rep key", "emea key"} <= {k["name"] for k in admin_listing["api_keys"]}


def test_keys_of_other_organisations_are_invisible(mcp_url: str, world: CallsWorld) -> None:
    listing = tool_ok(mcp_url, world.other.org_key, "list_api_keys")
    ours = {str(k.pk) for k in ApiKey.objects.filter(org=world.org.org)}
    assert not ours & {k["id"] for k in listing["api_keys"]}
    error = tool_error(mcp_url, world.other.org_key, "delete_api_key", {"api_key_id": str(world.org.keys["rep"].pk)})
    assert error["error"] == "not_found"
    assert ApiKey.objects.get(pk=world.org.keys["rep"].pk).revoked_at is None


def test_create_api_key_returns_a_working_token_once(live_server_url: str, mcp_url: str, world: CallsWorld) -> None:
    created = tool_ok(
        mcp_url, world.tokens["admin"], "create_api_key", {"name": "  CI/CD   Pipeline ", "expiry_hours": 24}
    )
    token = created["token"]
    assert created["name"] == "CI/CD Pipeline"
    assert created["org_level"] is True
    assert created["user_email"] is None
    assert created["created_by"] == world.users["admin"].email
    assert "once" in created["warning"]
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    # Works right away, as an org-level key.
    me = tool_ok(mcp_url, token, "get_me")
    assert me["user"] is None
    assert me["auth"]["kind"] == "org_key"
    # Never shown again.
    listing = tool_ok(mcp_url, world.tokens["admin"], "list_api_keys")
    listed = next(k for k in listing["api_keys"] if k["id"] == created["id"])
    assert "token" not in listed
    assert token not in json.dumps(listing)
    assert created["prefix"] == listed["prefix"]
    # delete_api_key: the key is refused from the next request on, and leaves the list.
    revoked = tool_ok(mcp_url, world.tokens["admin"], "delete_api_key", {"api_key_id": created["id"]})
    assert revoked["id"] == created["id"]
    assert revoked["revoked_at"]
    assert_invalid_token(post(mcp_url, token, PING), live_server_url)
    listing = tool_ok(mcp_url, world.tokens["admin"], "list_api_keys")
    assert created["id"] not in {k["id"] for k in listing["api_keys"]}
    # Deleting again is harmless (idempotent).
    again = tool_ok(mcp_url, world.tokens["admin"], "delete_api_key", {"api_key_id": created["id"]})
    assert again["revoked_at"] == revoked["revoked_at"]


def test_an_admins_user_key_creates_a_user_level_key_acting_as_the_admin(
    live_server_url: str, mcp_url: str, world: CallsWorld
) -> None:
    created = tool_ok(mcp_url, world.tokens["admin"], "create_api_key", {"name": "mine", "org_level": False})
    assert created["org_level"] is False
    assert created["user_email"] == world.users["admin"].email
    assert created["expires_at"] is None
    me = tool_ok(mcp_url, created["token"], "get_me")
    assert me["user"]["email"] == world.users["admin"].email
    assert me["auth"]["kind"] == "user_key"
    tool_ok(mcp_url, world.tokens["org"], "delete_api_key", {"api_key_id": created["id"]})
    assert_invalid_token(post(mcp_url, created["token"], PING), live_server_url)


def test_an_org_key_creates_org_keys(mcp_url: str, world: CallsWorld) -> None:
    created = tool_ok(mcp_url, world.tokens["org"], "create_api_key", {"name": "from the org key"})
    assert created["created_by"] is None
    assert tool_ok(mcp_url, created["token"], "get_me")["org"]["id"] == str(world.org.org.pk)


def test_delete_unknown_key_is_not_found(mcp_url: str, world: CallsWorld) -> None:
    key_id = str(uuid.uuid4())
    error = tool_error(mcp_url, world.tokens["admin"], "delete_api_key", {"api_key_id": key_id})
    assert error == {"error": "not_found", "message": f"api key {key_id} not found"}


# --- scopes, roles and arguments (D) ---------------------------------------------------------------------------------


def _actor(world: CallsWorld, scopes: set[str], roles: set[str] | None = None) -> Actor:
    return Actor(
        org_id=world.org.org.pk,
        user_id=world.users["admin"].pk,
        roles=frozenset(roles if roles is not None else {"admin"}),
        scopes=frozenset(scopes),
        via="oauth",
    )


def test_read_only_scope_cannot_write(mcp_url: str, world: CallsWorld) -> None:
    actor = _actor(world, {"mcp:read"})
    tools = registry.tools()
    for name, args in (
        ("create_api_key", {"name": "x"}),
        ("delete_api_key", {"api_key_id": str(world.org.keys["rep"].pk)}),
    ):
        result = registry.call_tool(tools[name], actor, args)
        assert result["isError"] is True
        assert result["structuredContent"] == {
            "error": "insufficient_scope",
            "required_scope": "mcp:write",
            "message": "This action needs the mcp:write scope.",
        }
        assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    assert ApiKey.objects.get(pk=world.org.keys["rep"].pk).revoked_at is None
    # Reading is fine with mcp:read alone.
    assert registry.call_tool(tools["get_me"], actor, {})["isError"] is False


def test_write_only_scope_cannot_read(mcp_url: str, world: CallsWorld) -> None:
    result = registry.call_tool(registry.tools()["search_calls"], _actor(world, {"mcp:write"}), {})
    assert result["structuredContent"]["error"] == "insufficient_scope"
    assert result["structuredContent"]["required_scope"] == "mcp:read"


def test_scope_is_checked_before_arguments(mcp_url: str, world: CallsWorld) -> None:
    result = registry.call_tool(registry.tools()["create_api_key"], _actor(world, {"mcp:read"}), {"bogus": 1})
    assert result["structuredContent"]["error"] == "insufficient_scope"


def test_every_write_tool_needs_mcp_write(mcp_url: str, world: CallsWorld) -> None:
    actor = _actor(world, {"mcp:read"})
    for spec in registry.tools().values():
        if spec.scope == "mcp:write":
            assert registry.call_tool(spec, actor, {})["structuredContent"]["error"] == "insufficient_scope", spec.name


def test_a_rep_cannot_create_or_delete_keys(mcp_url: str, world: CallsWorld) -> None:
    before = ApiKey.objects.filter(org=world.org.org).count()
    response = rpc(mcp_url, world.tokens["rep"], "tools/call", {"name": "create_api_key", "arguments": {"name": "x"}})
    assert response.status_code == 200
    result = result_of(response)
    assert result["isError"] is True
    assert result["structuredContent"]["error"] == "admin_required"
    error = tool_error(mcp_url, world.tokens["rep"], "delete_api_key", {"api_key_id": str(world.org.keys["rep"].pk)})
    assert error["error"] == "admin_required"
    assert ApiKey.objects.filter(org=world.org.org).count() == before
    assert ApiKey.objects.get(pk=world.org.keys["rep"].pk).revoked_at is None


def test_an_org_key_cannot_create_a_user_level_key(mcp_url: str, world: CallsWorld) -> None:
    error = tool_error(mcp_url, world.tokens["org"], "create_api_key", {"name": "x", "org_level": False})
    assert error["error"] == "user_required"


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("get_call_details", {}, "call_id"),
        ("get_call_details", {"call_id": 123}, "call_id"),
        ("get_call_details", {"call_id": "not-a-uuid"}, "call_id"),
        ("get_call_details", {"call_id": str(uuid.uuid4()), "transcript_format": "pdf"}, "transcript_format"),
        ("get_call_transcript", {"call_id": str(uuid.uuid4()), "page_size": 501}, "page_size"),
        ("search_calls", {"page_size": 0}, "page_size"),
        ("search_calls", {"page_size": 51}, "page_size"),
        ("search_calls", {"page_size": "ten"}, "page_size"),
        ("search_calls", {"from_date": "yesterday"}, "from_date"),
        ("search_calls", {"team_ids": "not-a-list"}, "team_ids"),
        ("search_calls", {"rep_emails": ["not an email"]}, "rep_emails"),
        ("search_calls", {"sort": "relevance-ish"}, "sort"),
        ("search_calls", {"query": "x" * 501}, "query"),
        ("search_calls", {"bogus": 1}, "bogus"),
        ("search_calls", {"Query": "pricing"}, "Query"),
        ("get_me", {"verbose": True}, "verbose"),
        ("list_teams", {"x": None}, "x"),
        ("create_api_key", {}, "name"),
        ("create_api_key", {"name": ""}, "name"),
        ("create_api_key", {"name": "x", "expiry_hours": 0}, "expiry_hours"),
        ("create_api_key", {"name": "x", "expiry_hours": 24 * 365 * 10 + 1}, "expiry_hours"),
        ("create_api_key", {"name": "x", "org_level": "maybe"}, "org_level"),
        ("delete_api_key", {"api_key_id": "ak_12345678"}, "api_key_id"),
    ],
)
def test_invalid_arguments_are_is_error_naming_the_field(
    mcp_url: str, world: CallsWorld, tool: str, args: dict[str, Any], field: str
) -> None:
    before = ApiKey.objects.count()
    response = rpc(mcp_url, world.tokens["admin"], "tools/call", {"name": tool, "arguments": args})
    assert response.status_code == 200
    result = result_of(response)
    assert result["isError"] is True
    error = result["structuredContent"]
    assert error["error"] == "invalid_argument", error
    assert error["field"] == field, error
    assert error["message"]
    assert ApiKey.objects.count() == before


def test_unknown_tool_is_a_protocol_error_not_a_tool_error(mcp_url: str, world: CallsWorld) -> None:
    body = rpc(mcp_url, world.tokens["org"], "tools/call", {"name": "delete_everything", "arguments": {}}).json()
    assert body["error"]["code"] == -32602
    assert "result" not in body


def test_a_revoked_org_key_cannot_call_tools(live_server_url: str, mcp_url: str, world: CallsWorld) -> None:
    row, token = committed(world.org.new_org_key, name="short-lived")
    assert tool_ok(mcp_url, token, "list_teams")["teams"]
    tool_ok(mcp_url, world.tokens["admin"], "delete_api_key", {"api_key_id": str(row.pk)})
    response = rpc(mcp_url, token, "tools/call", {"name": "list_teams", "arguments": {}})
    assert_invalid_token(response, live_server_url)


# --- bugs found: inputs the schema accepts that end as internal errors -----------------------------------------------


def _cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        pytest.param(
            "search_calls",
            {"to_date": "9999-12-31"},
            "to_date",
            id="to-date-max",
        ),
        pytest.param(
            "search_calls",
            {"query": "pricing\x00"},
            "query",
            id="nul-query",
        ),
        pytest.param(
            "search_calls",
            {"labels": {"Call\x00Type": "Demo"}},
            "labels",
            id="nul-label",
        ),
        pytest.param(
            "search_calls",
            {"rep_emails": ["rep\x00@acme.example"]},
            "rep_emails",
            id="nul-rep-email",
        ),
        pytest.param(
            "search_calls",
            {"participant_emails": ["casey@globex.example\x00"]},
            "participant_emails",
            id="nul-participant-email",
        ),
        pytest.param(
            "create_api_key",
            {"name": "CI\x00key"},
            "name",
            id="nul-key-name",
        ),
        pytest.param(
            "search_calls",
            {"crm_field": {"entity": "opportunity", "field": "in", "values": ["x"]}},
            "crm_field",
            id="crm-field-named-in",
        ),
        pytest.param(
            "search_calls",
            {"crm_field": {"entity": "account", "field": "isnull", "values": ["x"]}},
            "crm_field",
            id="crm-field-named-isnull",
        ),
        pytest.param(
            "search_calls",
            {"cursor": _cursor({"k": "calls:date_desc", "s": "2025-01-01T00:00:00+00:00", "i": [1]})},
            "cursor",
            id="cursor-id-not-a-string",
        ),
        ("search_calls", {"crm_field": {"entity": "opportunity", "field": "Region", "values": ["EMEA"]}}, "crm_field"),
        ("search_calls", {"from_date": "0001-01-01"}, "from_date"),
    ],
)
def test_odd_but_schema_valid_arguments_are_answered_not_crashed(
    mcp_url: str, world: CallsWorld, tool: str, args: dict[str, Any], field: str
) -> None:
    """Either a normal answer or an invalid_argument naming the field; never internal_error / unavailable."""
    result = result_of(rpc(mcp_url, world.tokens["admin"], "tools/call", {"name": tool, "arguments": args}))
    if result["isError"]:
        error = result["structuredContent"]
        assert error["error"] == "invalid_argument", error
        assert error["field"] == field, error
