"""/mcp as an HTTP endpoint (PROTOCOL.md "Streamable HTTP"), against a live Daphne.

Methods, CORS, Origin and Host validation, content negotiation, body limits and the
202 answers. JSON-RPC semantics (initialize, tools, 2026-07-28) are in test_mcp_protocol.py.
"""

from __future__ import annotations

import json

import httpx
import pytest
from mcp_types import UNSUPPORTED_PROTOCOL_VERSION

from tests.support.mcp import (
    McpOrg,
    assert_invalid_token,
    client,
    post,
    request,
)

pytest_plugins = ["tests.support.mcp_fixtures"]  # fixtures: mcp_url, shared_org, fresh_org
pytestmark = pytest.mark.django_db

PING = request("ping")


def test_post_to_mcp_and_mcp_slash_both_answer_without_redirect(mcp_url: str, shared_org: McpOrg) -> None:
    for url in (mcp_url, mcp_url + "/"):
        response = post(url, shared_org.org_key, PING)
        assert response.status_code == 200, (url, response.status_code, response.text)
        assert response.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "PATCH"])
def test_other_methods_are_405_with_allow(mcp_url: str, shared_org: McpOrg, method: str) -> None:
    response = client().request(
        method,
        mcp_url,
        headers={"Authorization": f"Bearer {shared_org.org_key}", "Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed == {"POST", "OPTIONS"}


@pytest.mark.parametrize("origin_kind", ["public", "localhost_any_port"])
def test_cors_preflight_is_answered_before_authentication(live_server_url: str, mcp_url: str, origin_kind: str) -> None:
    origin = live_server_url if origin_kind == "public" else "http://localhost:6274"
    response = client().options(
        f"{live_server_url}/mcp",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    h = response.headers
    assert h["access-control-allow-origin"] == origin
    assert "POST" in h["access-control-allow-methods"]
    allow_headers = {x.strip() for x in h["access-control-allow-headers"].lower().split(",")}
    assert {"authorization", "content-type", "mcp-protocol-version", "mcp-method", "mcp-name"} <= allow_headers
    exposed = {x.strip() for x in h["access-control-expose-headers"].lower().split(",")}
    assert {"www-authenticate", "mcp-session-id"} <= exposed
    assert "access-control-allow-credentials" not in h
    assert "www-authenticate" not in h


def test_cors_headers_on_a_401_expose_the_challenge(live_server_url: str, mcp_url: str) -> None:
    response = post(mcp_url, "garbage", PING, {"Origin": "http://localhost:6274"})
    assert_invalid_token(response, live_server_url)
    assert response.headers["access-control-allow-origin"] == "http://localhost:6274"
    assert "www-authenticate" in response.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers


def test_cors_headers_on_success_never_allow_credentials(mcp_url: str, shared_org: McpOrg) -> None:
    response = post(mcp_url, shared_org.org_key, PING, {"Origin": "http://127.0.0.1:3000"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert "origin" in response.headers["vary"].lower()
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://127.0.0.1:80@evil.example", "https://localhost:1"]
)
def test_foreign_origin_is_403_even_with_a_valid_token(mcp_url: str, shared_org: McpOrg, origin: str) -> None:
    response = post(mcp_url, shared_org.org_key, PING, {"Origin": origin})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    preflight = client().options(mcp_url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example"])
def test_foreign_host_is_421(mcp_url: str, shared_org: McpOrg, host: str) -> None:
    response = post(mcp_url, shared_org.org_key, PING, {"Host": host})
    assert response.status_code == 421
    assert response.json()["error"] == "misdirected_request"


def test_accepted_hosts_are_remembered_boundedly_and_forgotten_when_allowed_hosts_change() -> None:
    from django.test import override_settings

    from mcpgateway import app

    with override_settings(ALLOWED_HOSTS=["a.example", ".wild.example"]):
        assert app.host_allowed("a.example:8000")
        assert not app.host_allowed("b.example")
        assert "a.example:8000" in app._ACCEPTED_HOSTS
        assert "b.example" not in app._ACCEPTED_HOSTS
        for i in range(app._ACCEPTED_HOSTS_MAX + 10):
            assert app.host_allowed(f"h{i}.wild.example")
        assert len(app._ACCEPTED_HOSTS) <= app._ACCEPTED_HOSTS_MAX
    with override_settings(ALLOWED_HOSTS=["b.example"]):
        assert not app.host_allowed("a.example:8000")
        assert app.host_allowed("b.example")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
def test_wrong_content_type_is_415(mcp_url: str, shared_org: McpOrg, content_type: str) -> None:
    response = post(mcp_url, shared_org.org_key, PING, {"Content-Type": content_type})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == -32600


def test_missing_content_type_is_415(mcp_url: str, shared_org: McpOrg) -> None:
    req = client().build_request(
        "POST", mcp_url, content=json.dumps(PING), headers={"Authorization": f"Bearer {shared_org.org_key}"}
    )
    req.headers.pop("content-type", None)
    assert client().send(req).status_code == 415


def test_content_type_parameters_are_accepted(mcp_url: str, shared_org: McpOrg) -> None:
    response = post(mcp_url, shared_org.org_key, PING, {"Content-Type": "Application/JSON; charset=utf-8"})
    assert response.status_code == 200


@pytest.mark.parametrize("accept", ["text/html", "image/png, text/plain", "application/xml"])
def test_accept_without_json_or_sse_is_406(mcp_url: str, shared_org: McpOrg, accept: str) -> None:
    response = post(mcp_url, shared_org.org_key, PING, {"Accept": accept})
    assert response.status_code == 406


def test_accept_event_stream_only_gets_an_sse_framed_response(mcp_url: str, shared_org: McpOrg) -> None:
    response = post(mcp_url, shared_org.org_key, request("tools/list", req_id=7), {"Accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    text = response.text
    assert text.startswith("event: message\ndata: ")
    assert text.endswith("\n\n")
    data_lines = [line[len("data: ") :] for line in text.strip().split("\n") if line.startswith("data: ")]
    assert len(data_lines) == 1
    message = json.loads(data_lines[0])
    assert message["id"] == 7
    assert message["result"]["tools"]


@pytest.mark.parametrize("accept", ["*/*", "application/json", "application/*", "application/json, text/event-stream"])
def test_json_capable_accept_gets_json(mcp_url: str, shared_org: McpOrg, accept: str) -> None:
    response = post(mcp_url, shared_org.org_key, PING, {"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["result"] == {}


def test_missing_accept_gets_json(mcp_url: str, shared_org: McpOrg) -> None:
    req = client().build_request(
        "POST",
        mcp_url,
        content=json.dumps(PING),
        headers={"Authorization": f"Bearer {shared_org.org_key}", "Content-Type": "application/json"},
    )
    req.headers.pop("accept", None)
    assert "accept" not in req.headers
    response = client().send(req)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["result"] == {}


@pytest.mark.parametrize("content", [b"{not json", b"", b'{"jsonrpc": "2.0", "id": 1,', b"\xff\xfe", b"[" * 100_000])
def test_bad_json_is_400_parse_error(mcp_url: str, shared_org: McpOrg, content: bytes) -> None:
    response = post(mcp_url, shared_org.org_key, content=content)
    assert response.status_code == 400
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] is None
    assert body["error"]["code"] == -32700


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
        {"jsonrpc": "2.0", "id": 5, "result": {}},
        {"jsonrpc": "2.0", "id": 5, "error": {"code": -32601, "message": "nope"}},
    ],
    ids=["notification", "cancelled", "response", "error-response"],
)
def test_notifications_and_responses_are_202_with_an_empty_body(
    mcp_url: str, shared_org: McpOrg, message: dict[str, object]
) -> None:
    response = post(mcp_url, shared_org.org_key, message)
    assert response.status_code == 202
    assert response.content == b""


@pytest.mark.parametrize("version", ["1999-01-01", "2024-11-05", "2025-13-01", "latest"])
def test_unsupported_protocol_version_header_is_400(mcp_url: str, shared_org: McpOrg, version: str) -> None:
    response = post(mcp_url, shared_org.org_key, request("ping", req_id=41), {"MCP-Protocol-Version": version})
    assert response.status_code == 400
    body = response.json()
    assert body["id"] == 41
    assert body["error"]["code"] == UNSUPPORTED_PROTOCOL_VERSION
    assert body["error"]["data"]["requested"] == version
    assert "2026-07-28" in body["error"]["data"]["supported"]


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25"])
def test_supported_protocol_version_headers_are_served(mcp_url: str, shared_org: McpOrg, version: str) -> None:
    response = post(mcp_url, shared_org.org_key, PING, {"MCP-Protocol-Version": version})
    assert response.status_code == 200
    assert response.json()["result"] == {}


def test_body_over_one_mebibyte_is_413(mcp_url: str, shared_org: McpOrg) -> None:
    padding = "x" * (1024 * 1024)
    response = post(mcp_url, shared_org.org_key, request("ping", {"_meta": {"pad": padding}}))
    assert response.status_code == 413


def test_body_just_under_the_limit_is_read(mcp_url: str, shared_org: McpOrg) -> None:
    padding = "x" * (1024 * 1024 - 200)
    response = post(mcp_url, shared_org.org_key, request("ping", {"_meta": {"pad": padding}}))
    assert response.status_code == 200


def test_non_json_rpc_objects_are_400_invalid_request(mcp_url: str, shared_org: McpOrg) -> None:
    for body in ({"id": 1, "method": "ping"}, {"jsonrpc": "1.0", "id": 1, "method": "ping"}, 42, "ping"):
        response = post(mcp_url, shared_org.org_key, body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == -32600


def test_responses_are_not_cached(mcp_url: str, shared_org: McpOrg) -> None:
    response = post(mcp_url, shared_org.org_key, PING)
    assert response.headers["cache-control"] == "no-store"


def test_http_errors_never_leak_html(mcp_url: str) -> None:
    response = httpx.post(mcp_url, content=b"x", headers={"Content-Type": "text/plain", "Accept": "text/html"})
    assert response.status_code in {401, 406, 415}
    assert response.headers["content-type"] == "application/json"


def test_the_asgi_entry_point_freezes_what_start_up_built() -> None:
    """Start-up's objects are out of the cyclic collector's sight (the full collections that request garbage
    sets off would otherwise walk all of Django and every tool module each time)."""
    import gc
    import importlib

    importlib.import_module("attention_mcp.asgi")
    assert gc.get_freeze_count() > 100_000
