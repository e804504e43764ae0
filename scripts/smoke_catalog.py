"""Call every tool of a running server once, with the official MCP SDK client, on the server's own data.

    .venv/bin/python scripts/smoke_catalog.py http://127.0.0.1:8000/mcp <user-level admin key or OAuth token>

`make run` prints a suitable key (the demo admin's user-level key). Arguments are discovered from the data
(a call found by search, a label of the organisation, a deal, a rep, ...). What the script creates (a team, a
label, a snippet, a scorecard, a forecast column, an invitation, an API key, a super-agent session) it deletes
or archives again where a tool can; a rep is deactivated and reactivated. Exit status 1 when any tool fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

PACE_SECONDS = 1 / 12


class Failed(Exception):
    pass


class Smoke:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.called: dict[str, Any] = {}
        self.failures: list[str] = []

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        # Stay under the default per-second rate limit (20 requests per identity), as a polite client would.
        await asyncio.sleep(PACE_SECONDS)
        result = await self.client.call_tool(name, arguments)
        body: dict[str, Any] = result.structured_content or {}
        self.called[name] = body
        if result.is_error:
            self.failures.append(f"{name}: {json.dumps(body)[:300]}")
            raise Failed(name)
        return body

    async def step(self, run: Callable[[], Awaitable[None]]) -> None:
        """One group of calls; a failure is recorded and the next group still runs."""
        with contextlib.suppress(Failed):
            await run()


async def exercise(url: str, token: str, *, mode: str = "auto") -> Smoke:
    tag = secrets.token_hex(3)
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        s = Smoke(client)
        listed = {tool.name for tool in (await client.list_tools()).tools}
        ctx: dict[str, Any] = {}

        async def identity() -> None:
            me = await s.call("get_me", {})
            ctx["me"] = me["user"]["id"] if me.get("user") else None
            ctx["domain"] = (me["user"]["email"] if me.get("user") else "example.com").split("@")[-1]
            teams = (await s.call("list_teams", {}))["teams"]
            ctx["team"] = next(t["id"] for t in teams if not t["archived"])
            await s.call("get_team", {"id": ctx["team"]})
            await s.call("get_team_members", {"id": ctx["team"], "page_size": 5})
            reps = (await s.call("list_reps", {"page_size": 50}))["reps"]
            ctx["rep"] = next(r["id"] for r in reps if r["id"] != ctx["me"] and "sales_rep" in r["roles"])
            roles = (await s.call("list_roles", {}))["roles"]
            ctx["rep_role"] = next(r["id"] for r in roles if r["type"] == "sales_rep")

        async def calls() -> None:
            found = (await s.call("search_calls", {"query": "pricing", "page_size": 10}))["calls"]
            ctx["call"] = found[0]["id"]
            ctx["call_title"] = found[0]["title"]
            await s.call("get_call_details", {"call_id": ctx["call"], "include_transcript": False})
            await s.call("get_call_transcript", {"call_id": ctx["call"], "page_size": 20})
            await s.call("update_call", {"call_id": ctx["call"], "title": ctx["call_title"]})
            await s.call("archive_call", {"call_id": ctx["call"], "archived": False})
            await s.call(
                "ask_attention", {"prompt": "What did they say about pricing?", "conversation_ids": [ctx["call"]]}
            )

        async def labels() -> None:
            listed_labels = (await s.call("list_labels", {"page_size": 50}))["labels"]
            usable = next(lbl for lbl in listed_labels if lbl["all_teams"] and lbl["options"])
            await s.call(
                "change_conversation_labels",
                {"conversation_id": ctx["call"], "labels": {usable["label"]: usable["options"][0]["value"]}},
            )
            made = await s.call("create_label", {"label": f"Smoke {tag}", "options": [{"value": "Yes"}]})
            await s.call("update_label", {"label_id": made["id"], "options": [{"value": "Yes"}, {"value": "No"}]})
            await s.call("delete_label", {"label_id": made["id"]})

        async def snippets() -> None:
            made = await s.call("create_snippet", {"conversation_id": ctx["call"], "start_time": 0, "end_time": 20})
            await s.call("list_snippets", {"conversation_id": ctx["call"], "page_size": 5})
            await s.call("delete_snippet", {"snippet_id": made["id"]})

        async def teams() -> None:
            made = await s.call("create_team", {"name": f"Smoke {tag}", "parent_team_id": ctx["team"]})
            await s.call("update_team", {"team_id": made["id"], "name": f"Smoke {tag} renamed"})
            await s.call("change_team_parent", {"team_id": made["id"]})
            await s.call("add_team_member", {"team_id": made["id"], "user_id": ctx["rep"]})
            await s.call("remove_team_member", {"team_id": made["id"], "user_id": ctx["rep"]})
            await s.call(
                "update_user_teams",
                {"user_id": ctx["rep"], "teams_to_add": [{"team_id": made["id"], "primary": False}]},
            )
            await s.call("update_user_teams", {"user_id": ctx["rep"], "team_ids_to_remove": [made["id"]]})
            await s.call("archive_team", {"team_id": made["id"], "archived": True})

        async def users() -> None:
            await s.call("update_user", {"user_id": ctx["rep"], "deals_enabled": True})
            await s.call("manage_user_role", {"action": "set", "user_id": ctx["rep"], "role_id": ctx["rep_role"]})
            await s.call("delete_user", {"user_id": ctx["rep"]})
            await s.call("reactivate_user", {"user_id": ctx["rep"]})

        async def invitations() -> None:
            made = await s.call("invite_user", {"email": f"smoke-{tag}@{ctx['domain']}"})
            await s.call("list_invitations", {"page_size": 5})
            await s.call("update_invitation", {"invitation_id": made["id"], "seat_type": "listener"})
            await s.call("delete_invitation", {"invitation_id": made["id"]})

        async def api_keys() -> None:
            made = await s.call("create_api_key", {"name": f"smoke {tag}", "expiry_hours": 1})
            await s.call("list_api_keys", {})
            await s.call("delete_api_key", {"api_key_id": made["id"]})

        async def scorecards() -> None:
            existing = (await s.call("get_scorecards", {}))["scorecards"]
            if existing:
                await s.call("get_scorecard_details", {"scorecard_id": existing[0]["id"]})
            card = await s.call("create_scorecard", {"title": f"Smoke {tag}"})
            await s.call("update_scorecard", {"scorecard_id": card["id"], "instructions": "Quote the call."})
            first = await s.call("create_scorecard_item", {"scorecard_id": card["id"], "title": "Asked about budget"})
            second = await s.call("create_scorecard_item", {"scorecard_id": card["id"], "title": "Agreed a next step"})
            await s.call("update_scorecard_item", {"scorecard_id": card["id"], "item_id": first["id"], "weight": 2})
            await s.call(
                "reorder_scorecard_items", {"scorecard_id": card["id"], "item_ids": [second["id"], first["id"]]}
            )
            await s.call(
                "create_scorecard_result",
                {
                    "conversation_id": ctx["call"],
                    "scorecard_id": card["id"],
                    "items": [{"item_id": first["id"], "score": 4}, {"item_id": second["id"], "score": 3}],
                },
            )
            await s.call("get_scorecard_summary", {"scorecard_id": card["id"]})
            await s.call("delete_scorecard_item", {"scorecard_id": card["id"], "item_id": second["id"]})
            await s.call("get_scorecard_details", {"scorecard_id": card["id"]})
            await s.call("update_scorecard", {"scorecard_id": card["id"], "enabled": False})

        async def deals_and_reports() -> None:
            deals = (await s.call("list_deals", {"page_size": 5}))["deals"]
            if deals:
                await s.call("get_deal", {"deal_id": deals[0]["id"], "page_size": 5})
            await s.call("get_usage_report", {})
            await s.call("get_forecast_config", {})
            made = await s.call("create_forecast_category", {"column_key": f"smoke_{tag}", "label": f"Smoke {tag}"})
            await s.call("update_forecast_category", {"category_id": made["id"], "description": "From the smoke run"})

        async def agent() -> None:
            sent = await s.call(
                "send_super_agent_message", {"content": "What did customers say about pricing last month?"}
            )
            session = sent["session_id"]
            await s.call("list_super_agent_sessions", {"limit": 10})
            await s.call("get_super_agent_session_history", {"session_id": session})
            await s.call("cancel_super_agent_processing", {"session_id": session})
            await s.call("rename_super_agent_session", {"session_id": session, "title": f"Smoke {tag}"})
            await s.call("delete_super_agent_session", {"session_id": session})

        for group in (identity, calls, labels, snippets, teams, users, invitations, api_keys, scorecards):
            await s.step(group)
        for group in (deals_and_reports, agent):
            await s.step(group)
        for name in sorted(listed - set(s.called)):
            s.failures.append(f"{name}: listed by tools/list but never called")
        return s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the MCP endpoint, e.g. http://127.0.0.1:8000/mcp")
    parser.add_argument("token", help="a user-level admin API key or OAuth access token")
    parser.add_argument("--mode", default="auto", choices=["auto", "legacy", "2026-07-28"])
    args = parser.parse_args()
    smoke = asyncio.run(exercise(args.url, args.token, mode=args.mode))
    print(f"{len(smoke.called)} tools called, {len(smoke.failures)} failures")
    for failure in smoke.failures:
        print(f"  FAILED {failure}")
    return 1 if smoke.failures else 0


if __name__ == "__main__":
    sys.exit(main())
