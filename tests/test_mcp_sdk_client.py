"""The official MCP Python client, end to end against a live Daphne, in its three connection modes.

"legacy" runs the initialize handshake, "auto" probes server/discover (and must settle on 2026-07-28),
and "2026-07-28" adopts the modern protocol directly. In each mode the client lists the tools and calls
every registered tool with valid arguments: no protocol error, no isError, and the client's own checks
(result models per version, structured output against each tool's outputSchema) pass.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from accounts.models import Role
from accounts.services import team_create
from calls.models import Call, Deal, LabelCategory, LabelOption, Participant, TranscriptSegment
from mcpgateway import registry
from tests.support.mcp import (
    LATEST_HANDSHAKE,
    MODERN,
    McpOrg,
    post,
    request,
)

pytest_plugins = ["tests.support.mcp_fixtures"]  # fixtures: mcp_url, shared_org, fresh_org
pytestmark = pytest.mark.django_db

T = TypeVar("T")
MODES = ["legacy", "auto", MODERN]
EXPECTED_VERSION = {"legacy": LATEST_HANDSHAKE, "auto": MODERN, MODERN: MODERN}


@pytest.fixture(scope="module")
def call_id(shared_org: McpOrg, django_db_blocker: Any) -> str:
    with django_db_blocker.unblock():
        call = Call.objects.create(
            org=shared_org.org,
            owner=shared_org.rep,
            team=shared_org.teams["sales"],
            title="SDK pricing call",
            started_at=datetime(2025, 5, 1, 9, tzinfo=UTC),
            duration_s=60,
        )
        Participant.objects.create(
            call=call, name="Rita Rep", email=shared_org.rep.email, affiliation="internal", organizer=True
        )
        TranscriptSegment.objects.create(call=call, position=0, speaker="Rita Rep", start_s=0, end_s=4, text="Hi")
    return str(call.pk)


@pytest.fixture(scope="module")
def sdk_objects(shared_org: McpOrg, django_db_blocker: Any) -> dict[str, str]:
    """Objects of the shared organisation that the write tools may change in every mode (never the admin or rep)."""
    with django_db_blocker.unblock():
        target = shared_org.add_user("sdk_target", "sales_rep", ("support",))
        team = team_create(actor=shared_org.system, name="SDK playground")
        sales_rep = Role.objects.get(org=shared_org.org, type="sales_rep")
        label = LabelCategory.objects.create(org=shared_org.org, name="SDK type")
        LabelOption.objects.create(category=label, value="Demo")
        deal = Deal.objects.create(org=shared_org.org, name="SDK renewal", owner=shared_org.rep)
        Call.objects.filter(org=shared_org.org, title="SDK pricing call").update(deal=deal)
    return {
        "deal": str(deal.pk),
        "user": str(target.pk),
        "team": str(team.pk),
        "support": str(shared_org.teams["support"].pk),
        "sales_rep": str(sales_rep.pk),
        "domain": shared_org.domain,
    }


def run(make: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(make(), timeout=120))


def connect(url: str, token: str, mode: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20)
    return Client(streamable_http_client(url, http_client=http), mode=mode)


def arguments_for(call_id: str, objects: dict[str, str], mode: str) -> dict[str, dict[str, Any]]:
    """Valid arguments for every tool of this issue; a tool added later must be given some here.

    Each mode runs them all again on the same objects: writes are repeatable (idempotent, or names made per mode).
    """
    user, team = objects["user"], objects["team"]
    tag = mode.replace("-", "")
    return {
        "get_team": {"id": team},
        "get_team_members": {"id": team, "page_size": 5},
        "create_team": {"name": f"SDK team {tag}", "parent_team_id": team},
        "update_team": {"team_id": team, "name": "SDK playground"},
        "archive_team": {"team_id": team, "archived": True},
        "change_team_parent": {"team_id": team},
        "add_team_member": {"team_id": team, "user_id": user, "role_id": objects["sales_rep"]},
        # remove_team_member runs after add_team_member (see DEFERRED)
        "list_reps": {"page_size": 5, "include_deleted": True},
        "list_roles": {},
        "update_user": {"user_id": user, "first_name": "Sid", "seat_type": "listener"},
        "update_user_teams": {"user_id": user, "teams_to_add": [{"team_id": objects["support"], "primary": True}]},
        "manage_user_role": {"action": "set", "user_id": user, "role_id": objects["sales_rep"]},
        "delete_user": {"user_id": user},
        "reactivate_user": {"user_id": user},
        "list_invitations": {"page_size": 5},
        "invite_user": {"email": f"sdk-{tag}@{objects['domain']}", "team_id": team},
        # update_invitation and delete_invitation get the id of the invitation invite_user just made
        "get_me": {},
        "list_teams": {},
        "search_calls": {"query": "pricing", "page_size": 5},
        "get_call_details": {"call_id": call_id, "transcript_format": "segments"},
        "get_call_transcript": {"call_id": call_id, "page_size": 10},
        "update_call": {"call_id": call_id, "title": "SDK pricing call"},
        "archive_call": {"call_id": call_id, "archived": False},
        "change_conversation_labels": {"conversation_id": call_id, "labels": {"SDK type": "Demo"}},
        "list_api_keys": {},
        "create_api_key": {"name": "from the SDK", "expiry_hours": 1},
        # delete_api_key gets the id of the key create_api_key just made
        "list_labels": {"page_size": 5},
        "create_label": {"label": f"SDK label {tag}", "options": [{"value": "Yes"}, {"value": "No"}]},
        "create_snippet": {"conversation_id": call_id, "start_time": 0, "end_time": 30, "title": "SDK snippet"},
        "list_snippets": {"conversation_id": call_id, "page_size": 5},
        "ask_attention": {"prompt": "What did they say about pricing?", "conversation_ids": [call_id]},
        "get_scorecards": {},
        "create_scorecard": {"title": f"SDK card {tag}", "interaction_type": "any"},
        "list_deals": {"page_size": 5},
        "get_deal": {"deal_id": objects["deal"]},
        "get_usage_report": {"from_date": "2025-01-01", "to_date": "2025-12-31"},
        "get_forecast_config": {},
        "create_forecast_category": {"column_key": f"sdk_{tag}", "label": f"SDK {tag}", "color": "#6a1b9a"},
        "send_super_agent_message": {"content": "What did customers say about pricing?", "timezone": "Europe/Berlin"},
        "list_super_agent_sessions": {"limit": 10},
    }


def deferred_arguments(results: dict[str, Any], objects: dict[str, str], call_id: str) -> dict[str, dict[str, Any]]:
    """Arguments that name what an earlier call made, in the order they run (DEFERRED)."""

    def made(tool: str, key: str = "id") -> Any:
        return results[tool].structured_content[key]

    card = made("create_scorecard")
    item = made("create_scorecard_item") if "create_scorecard_item" in results else None
    session = made("send_super_agent_message", "session_id")
    return {
        "remove_team_member": {"team_id": objects["team"], "user_id": objects["user"]},
        "update_invitation": {"invitation_id": made("invite_user"), "seat_type": "listener", "resend": True},
        "delete_invitation": {"invitation_id": made("invite_user")},
        "delete_api_key": {"api_key_id": made("create_api_key")},
        "update_label": {"label_id": made("create_label"), "options": [{"value": "yes"}, {"value": "Maybe"}]},
        "delete_label": {"label_id": made("create_label")},
        "delete_snippet": {"snippet_id": made("create_snippet")},
        "get_scorecard_details": {"scorecard_id": card},
        "update_scorecard": {"scorecard_id": card, "instructions": "Quote the call."},
        "create_scorecard_item": {"scorecard_id": card, "title": "Uncovered pain", "weight": 2, "min": 1, "max": 5},
        "update_scorecard_item": {"scorecard_id": card, "item_id": item, "weight": 3},
        "reorder_scorecard_items": {"scorecard_id": card, "item_ids": [item]},
        "create_scorecard_result": {
            "conversation_id": call_id,
            "scorecard_id": card,
            "items": [{"item_id": item, "score": 4}],
        },
        "get_scorecard_summary": {"scorecard_id": card},
        "delete_scorecard_item": {"scorecard_id": card, "item_id": item},
        "update_forecast_category": {"category_id": made("create_forecast_category"), "description": "From the SDK"},
        "get_super_agent_session_history": {"session_id": session, "page_size": 10},
        "cancel_super_agent_processing": {"session_id": session, "reason": "no longer needed"},
        "rename_super_agent_session": {"session_id": session, "title": "Pricing questions"},
        "delete_super_agent_session": {"session_id": session},
    }


# Tools whose arguments come from another tool's result: called after all the others, in this order.
DEFERRED = (
    "remove_team_member",
    "update_invitation",
    "delete_invitation",
    "delete_api_key",
    "update_label",
    "delete_label",
    "delete_snippet",
    "get_scorecard_details",
    "update_scorecard",
    "create_scorecard_item",
    "update_scorecard_item",
    "reorder_scorecard_items",
    "create_scorecard_result",
    "get_scorecard_summary",
    "delete_scorecard_item",
    "update_forecast_category",
    "get_super_agent_session_history",
    "cancel_super_agent_processing",
    "rename_super_agent_session",
    "delete_super_agent_session",
)


async def _exercise(url: str, token: str, mode: str, call_id: str, objects: dict[str, str]) -> dict[str, Any]:
    report: dict[str, Any] = {"results": {}}
    async with connect(url, token, mode) as client:
        report["version"] = client.protocol_version
        report["server_info"] = client.server_info
        report["tools_capability"] = client.server_capabilities.tools
        listing = await client.list_tools()
        report["tools"] = {tool.name: tool for tool in listing.tools}
        args = arguments_for(call_id, objects, mode)
        for name in report["tools"]:
            if name in DEFERRED:
                continue
            assert name in args, f"no arguments for tool {name}: add them to arguments_for()"
            report["results"][name] = await client.call_tool(name, args[name])
        results = report["results"]
        for name in DEFERRED:
            # Rebuilt each time: later entries need ids that earlier deferred calls return.
            results[name] = await client.call_tool(name, deferred_arguments(results, objects, call_id)[name])
        report["unknown_argument"] = await client.call_tool("get_me", {"nope": 1})
    return report


@pytest.mark.parametrize("mode", MODES)
def test_sdk_client_lists_and_calls_every_tool(
    mcp_url: str, shared_org: McpOrg, call_id: str, sdk_objects: dict[str, str], mode: str
) -> None:
    report = run(lambda: _exercise(mcp_url, shared_org.admin_key, mode, call_id, sdk_objects))
    assert report["version"] == EXPECTED_VERSION[mode]
    if mode != MODERN:  # a pinned version adopts a synthesized discovery result: nothing learnt from the server
        assert report["tools_capability"] is not None
    if mode != MODERN:  # legacy: initialize's serverInfo; auto: the discover result's _meta stamp
        assert report["server_info"].name == "attention-mcp"
    assert set(report["tools"]) == set(registry.tools())
    for name, tool in report["tools"].items():
        assert tool.input_schema["type"] == "object", name
        assert tool.output_schema is not None, name
        assert tool.title, name
    for name, result in report["results"].items():
        assert result.is_error is False, (mode, name, result.content)
        assert result.structured_content is not None, name
        text = result.content[0]
        assert text.type == "text", name
        assert json.loads(text.text) == result.structured_content, name
    results = report["results"]
    assert results["get_me"].structured_content["user"]["email"] == shared_org.admin.email
    assert any(c["id"] == call_id for c in results["search_calls"].structured_content["calls"])
    assert results["get_call_details"].structured_content["transcript_segments"][0]["text"] == "Hi"
    assert results["get_call_transcript"].structured_content["total_segments"] == 1
    created = results["create_api_key"].structured_content
    assert created["token"]
    assert results["delete_api_key"].structured_content["id"] == created["id"]
    assert results["get_team"].structured_content["id"] == sdk_objects["team"]
    assert results["reactivate_user"].structured_content["active"] is True
    assert results["remove_team_member"].structured_content["team"]["id"] == sdk_objects["team"]
    assert results["update_invitation"].structured_content["seat_type"] == "listener"
    assert results["delete_invitation"].structured_content["deleted"] is True
    answered = results["ask_attention"].structured_content["results"]
    assert [(r["conversation_id"], r["error"]) for r in answered] == [(call_id, None)]
    assert results["send_super_agent_message"].structured_content["status"] in {"completed", "processing"}
    scored = results["create_scorecard_result"].structured_content
    assert scored["scorecard"]["id"] == results["create_scorecard"].structured_content["id"]
    assert scored["conversation_id"] == call_id
    assert results["get_deal"].structured_content["id"] == sdk_objects["deal"]
    assert results["delete_super_agent_session"].structured_content["deleted"] is True
    # The key made and deleted through the SDK is dead.
    assert post(mcp_url, created["token"], request("ping")).status_code == 401
    # Validation failures are tool errors, not protocol errors, in every mode.
    unknown = report["unknown_argument"]
    assert unknown.is_error is True
    assert unknown.structured_content["error"] == "invalid_argument"


@pytest.mark.parametrize("mode", MODES)
def test_sdk_client_with_a_reps_key_sees_role_errors_as_tool_errors(
    mcp_url: str, shared_org: McpOrg, mode: str
) -> None:
    async def attempt() -> Any:
        async with connect(mcp_url, shared_org.rep_key, mode) as client:
            return await client.call_tool("create_api_key", {"name": "nope"})

    result = run(attempt)
    assert result.is_error is True
    assert result.structured_content["error"] == "admin_required"


@pytest.mark.parametrize("mode", MODES)
def test_sdk_client_with_a_bad_token_fails_to_connect(mcp_url: str, mode: str) -> None:
    async def attempt() -> None:
        async with connect(mcp_url, "not-a-key", mode) as client:
            await client.list_tools()

    with pytest.raises(BaseException) as info:  # noqa: PT011  (the SDK wraps transport errors in groups)
        run(attempt)
    # The SDK turns the 401 into an MCPError inside its task groups; it must not hang or half-connect.
    assert any(isinstance(e, MCPError) for e in _leaves(info.value)), repr(info.value)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]
