"""The seed's own example, verbatim, against a live Daphne."""

from __future__ import annotations

import httpx
import pytest

from accounts.permissions import Actor
from accounts.services import organization_create
from apikeys.services import apikey_create


@pytest.fixture
def org_key(live_mcp_url: str) -> str:
    org = organization_create(name="Smoke", slug="smoke", email_domains=["smoke.example"])
    _, token = apikey_create(actor=Actor.org_wide(org.pk, via="operator"), name="smoke")
    return token


def test_seed_curl_example_lists_tools_without_initialize(live_mcp_url: str, org_key: str) -> None:
    # curl's defaults: Accept */*, no MCP-Protocol-Version, no initialize first.
    response = httpx.post(
        live_mcp_url,
        headers={"Authorization": f"Bearer {org_key}", "Content-Type": "application/json", "Accept": "*/*"},
        content=b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    names = {t["name"] for t in response.json()["result"]["tools"]}
    assert {"get_me", "search_calls", "get_call_details", "create_api_key"} <= names
