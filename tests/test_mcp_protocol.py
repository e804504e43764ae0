"""JSON-RPC over /mcp: negotiation, batches, tools/list and tools/call shapes, and 2026-07-28, against a live Daphne.

Every successful result is also validated against the official SDK's per-version result models
(`mcp_types.methods.validate_server_result`).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from mcp.shared.inbound import InboundLadderRejection, classify_inbound_request
from mcp_types import HEADER_MISMATCH, SERVER_INFO_META_KEY
from mcp_types import methods as sdk_methods

from mcpgateway import protocol, registry
from tests.support.mcp import (
    HANDSHAKE_VERSIONS,
    LATEST_HANDSHAKE,
    MODERN,
    McpOrg,
    call_tool,
    modern_headers,
    modern_meta,
    modern_request,
    post,
    request,
    result_of,
    rpc,
)

pytest_plugins = ["tests.support.mcp_fixtures"]  # fixtures: mcp_url, shared_org, fresh_org
pytestmark = pytest.mark.django_db

ALL_VERSIONS = (*HANDSHAKE_VERSIONS, MODERN)
NO_ARG_SCHEMA = {"type": "object", "additionalProperties": False}
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
FIRST_TOOLS = {
    "get_me",
    "list_teams",
    "search_calls",
    "get_call_details",
    "get_call_transcript",
    "list_api_keys",
    "create_api_key",
    "delete_api_key",
}
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INVALID_REQUEST = -32600


def validate(method: str, version: str, result: dict[str, Any]) -> None:
    """Raises when `result` is not a valid `method` result at `version` for the official SDK."""
    sdk_methods.validate_server_result(method, version, result)


# --- ping, unknown methods -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [None, *HANDSHAKE_VERSIONS])
def test_ping_answers_an_empty_result(mcp_url: str, shared_org: McpOrg, version: str | None) -> None:
    result = result_of(rpc(mcp_url, shared_org.org_key, "ping", version=version))
    assert result == {}
    validate("ping", version or "2025-03-26", result)


@pytest.mark.parametrize("method", ["no/such/method", "resources/list", "prompts/list", "server/discover"])
@pytest.mark.parametrize("version", [None, *HANDSHAKE_VERSIONS])
def test_unknown_method_is_method_not_found(mcp_url: str, shared_org: McpOrg, method: str, version: str | None) -> None:
    # server/discover exists only from 2026-07-28 on.
    response = rpc(mcp_url, shared_org.org_key, method, version=version)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == 1
    assert body["error"]["code"] == METHOD_NOT_FOUND


def test_request_ids_are_echoed_as_sent(mcp_url: str, shared_org: McpOrg) -> None:
    for req_id in ("abc", 0, -5, 2**53):
        response = post(mcp_url, shared_org.org_key, request("ping", req_id=req_id))
        assert response.json() == {"jsonrpc": "2.0", "id": req_id, "result": {}}


@pytest.mark.parametrize("req_id", [None, 1.5, True, [1], {"a": 1}])
def test_invalid_request_ids_are_invalid_request(mcp_url: str, shared_org: McpOrg, req_id: object) -> None:
    response = post(mcp_url, shared_org.org_key, {"jsonrpc": "2.0", "id": req_id, "method": "ping"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == INVALID_REQUEST


def test_params_must_be_an_object(mcp_url: str, shared_org: McpOrg) -> None:
    response = post(mcp_url, shared_org.org_key, {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1]})
    assert response.json()["error"]["code"] == INVALID_PARAMS


# --- initialize -----------------------------------------------------------------------------------------------------


def initialize(url: str, token: str, requested: str, header: str | None = None) -> dict[str, Any]:
    params = {
        "protocolVersion": requested,
        "capabilities": {},
        "clientInfo": {"name": "attention-tests", "version": "0"},
    }
    return result_of(rpc(url, token, "initialize", params, version=header))


@pytest.mark.parametrize("version", HANDSHAKE_VERSIONS)
def test_initialize_echoes_a_supported_version(mcp_url: str, shared_org: McpOrg, version: str) -> None:
    result = initialize(mcp_url, shared_org.org_key, version)
    assert result["protocolVersion"] == version
    assert result["capabilities"]["tools"] == {"listChanged": False}
    assert result["serverInfo"]["name"] == "attention-mcp"
    assert result["instructions"]
    validate("initialize", version, result)


@pytest.mark.parametrize("requested", ["2024-11-05", "1999-01-01", "2026-07-28", "2025-11-26", "garbage"])
def test_initialize_answers_an_unknown_or_old_version_with_the_latest(
    mcp_url: str, shared_org: McpOrg, requested: str
) -> None:
    result = initialize(mcp_url, shared_org.org_key, requested)
    assert result["protocolVersion"] == LATEST_HANDSHAKE
    validate("initialize", LATEST_HANDSHAKE, result)


def test_initialize_with_a_version_header_still_negotiates(mcp_url: str, shared_org: McpOrg) -> None:
    result = initialize(mcp_url, shared_org.org_key, "2025-11-25", header="2025-06-18")
    assert result["protocolVersion"] == "2025-11-25"


def test_initialize_without_a_protocol_version_is_invalid_params(mcp_url: str, shared_org: McpOrg) -> None:
    response = rpc(mcp_url, shared_org.org_key, "initialize", {"capabilities": {}})
    assert response.json()["error"]["code"] == INVALID_PARAMS


def test_server_is_stateless_no_session_id_is_issued(mcp_url: str, shared_org: McpOrg) -> None:
    response = rpc(
        mcp_url,
        shared_org.org_key,
        "initialize",
        {"protocolVersion": LATEST_HANDSHAKE, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
    )
    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers
    # Any request works without initialize first, and an unknown session id is no obstacle either.
    assert post(mcp_url, shared_org.org_key, request("ping"), {"Mcp-Session-Id": "whatever"}).status_code == 200


# --- batches --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "2025-03-26"])
def test_batches_are_accepted_at_2025_03_26(mcp_url: str, shared_org: McpOrg, header: str | None) -> None:
    batch = [
        request("ping", req_id=1),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        request("tools/list", req_id="two"),
        request("no/such", req_id=3),
    ]
    headers = {"MCP-Protocol-Version": header} if header else {}
    response = post(mcp_url, shared_org.org_key, batch, headers)
    assert response.status_code == 200
    replies = {r["id"]: r for r in response.json()}
    assert set(replies) == {1, "two", 3}
    assert replies[1]["result"] == {}
    assert replies["two"]["result"]["tools"]
    assert replies[3]["error"]["code"] == METHOD_NOT_FOUND


def test_a_batch_of_notifications_only_is_202(mcp_url: str, shared_org: McpOrg) -> None:
    batch = [{"jsonrpc": "2.0", "method": "notifications/initialized"}, {"jsonrpc": "2.0", "id": 9, "result": {}}]
    response = post(mcp_url, shared_org.org_key, batch)
    assert response.status_code == 202
    assert response.content == b""


def test_an_empty_batch_is_invalid(mcp_url: str, shared_org: McpOrg) -> None:
    response = post(mcp_url, shared_org.org_key, [])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == INVALID_REQUEST


@pytest.mark.parametrize("header", ["2025-06-18", "2025-11-25", MODERN])
def test_batches_are_refused_from_2025_06_18_on(mcp_url: str, shared_org: McpOrg, header: str) -> None:
    batch = [request("ping", req_id=1), request("ping", req_id=2)]
    response = post(mcp_url, shared_org.org_key, batch, {"MCP-Protocol-Version": header})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == INVALID_REQUEST


# --- tools/list -------------------------------------------------------------------------------------------------------


def list_tools(url: str, token: str, version: str | None) -> dict[str, Any]:
    return result_of(rpc(url, token, "tools/list", version=version))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_tools_list_validates_against_the_sdk_at_every_version(mcp_url: str, shared_org: McpOrg, version: str) -> None:
    result = list_tools(mcp_url, shared_org.org_key, version)
    validate("tools/list", version, result)
    assert {t["name"] for t in result["tools"]} >= FIRST_TOOLS
    assert "nextCursor" not in result
    if version == MODERN:
        assert result["resultType"] == "complete"
    else:
        assert "resultType" not in result


def test_tools_list_without_a_version_header_is_the_2025_03_26_shape(mcp_url: str, shared_org: McpOrg) -> None:
    result = list_tools(mcp_url, shared_org.org_key, None)
    validate("tools/list", "2025-03-26", result)
    assert {t["name"] for t in result["tools"]} >= FIRST_TOOLS


def test_tools_list_entries_are_complete(mcp_url: str, shared_org: McpOrg) -> None:
    tools = {t["name"]: t for t in list_tools(mcp_url, shared_org.org_key, LATEST_HANDSHAKE)["tools"]}
    assert set(tools) == set(registry.tools())
    for name, tool in tools.items():
        assert NAME_RE.match(name), name
        assert {"name", "title", "description", "inputSchema", "outputSchema", "annotations"} <= set(tool), name
        assert tool["title"], name
        assert tool["description"], name
        assert tool["inputSchema"]["type"] == "object", name
        assert tool["inputSchema"]["additionalProperties"] is False, name
        assert tool["outputSchema"]["type"] == "object", name
        annotations = tool["annotations"]
        for hint in ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"):
            assert isinstance(annotations[hint], bool), (name, hint)
        assert annotations["openWorldHint"] is False, name
        if annotations["readOnlyHint"]:
            assert annotations["destructiveHint"] is False, name
            assert annotations["idempotentHint"] is True, name


def test_no_argument_tools_publish_the_closed_empty_schema(mcp_url: str, shared_org: McpOrg) -> None:
    tools = {t["name"]: t for t in list_tools(mcp_url, shared_org.org_key, LATEST_HANDSHAKE)["tools"]}
    for name in ("get_me", "list_teams", "list_api_keys"):
        assert tools[name]["inputSchema"] == NO_ARG_SCHEMA, name


def test_tool_annotations_say_what_each_first_tool_does(mcp_url: str, shared_org: McpOrg) -> None:
    tools = {t["name"]: t["annotations"] for t in list_tools(mcp_url, shared_org.org_key, LATEST_HANDSHAKE)["tools"]}
    hints = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
    expected = {
        "get_me": (True, False, True, False),
        "list_teams": (True, False, True, False),
        "search_calls": (True, False, True, False),
        "get_call_details": (True, False, True, False),
        "get_call_transcript": (True, False, True, False),
        "list_api_keys": (True, False, True, False),
        "create_api_key": (False, False, False, False),
        "delete_api_key": (False, True, True, False),
    }
    for name, values in expected.items():
        assert tuple(tools[name][h] for h in hints) == values, name


def test_required_arguments_are_published(mcp_url: str, shared_org: McpOrg) -> None:
    tools = {t["name"]: t for t in list_tools(mcp_url, shared_org.org_key, LATEST_HANDSHAKE)["tools"]}
    assert tools["get_call_details"]["inputSchema"]["required"] == ["call_id"]
    assert tools["get_call_transcript"]["inputSchema"]["required"] == ["call_id"]
    assert tools["delete_api_key"]["inputSchema"]["required"] == ["api_key_id"]
    assert tools["create_api_key"]["inputSchema"]["required"] == ["name"]
    assert "required" not in tools["search_calls"]["inputSchema"]
    page_size = tools["search_calls"]["inputSchema"]["properties"]["page_size"]
    assert (page_size["minimum"], page_size["maximum"]) == (1, 50)


def test_tools_list_with_a_cursor_is_invalid_params(mcp_url: str, shared_org: McpOrg) -> None:
    response = rpc(mcp_url, shared_org.org_key, "tools/list", {"cursor": "bogus"})
    assert response.json()["error"]["code"] == INVALID_PARAMS


# --- tools/call -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [None, *ALL_VERSIONS])
def test_tool_results_carry_structured_content_and_a_matching_text_block(
    mcp_url: str, shared_org: McpOrg, version: str | None
) -> None:
    result = call_tool(mcp_url, shared_org.org_key, "get_me", version=version)  # checks text == structuredContent
    assert result["isError"] is False
    assert result["structuredContent"]["org"]["id"] == str(shared_org.org.pk)
    validate("tools/call", version or "2025-03-26", result)
    if version == MODERN:
        assert result["resultType"] == "complete"


@pytest.mark.parametrize("version", [None, *ALL_VERSIONS])
def test_tool_errors_are_is_error_results_that_validate(mcp_url: str, shared_org: McpOrg, version: str | None) -> None:
    result = call_tool(mcp_url, shared_org.org_key, "get_call_details", {"call_id": "not-a-uuid"}, version=version)
    assert result["isError"] is True
    assert result["structuredContent"]["error"] == "invalid_argument"
    assert result["structuredContent"]["field"] == "call_id"
    validate("tools/call", version or "2025-03-26", result)


def test_every_tool_answers_with_a_valid_result_for_every_version(mcp_url: str, shared_org: McpOrg) -> None:
    """Valid arguments for each read tool; both success and isError results must validate at every version."""
    call_args: dict[str, dict[str, Any]] = {
        "get_me": {},
        "list_teams": {},
        "search_calls": {"page_size": 5},
        "get_call_details": {"call_id": "00000000-0000-0000-0000-000000000000"},
        "get_call_transcript": {"call_id": "00000000-0000-0000-0000-000000000000"},
        "list_api_keys": {},
    }
    for version in ALL_VERSIONS:
        for name, args in call_args.items():
            result = call_tool(mcp_url, shared_org.org_key, name, args, version=version)
            validate("tools/call", version, result)


def test_arguments_must_be_an_object(mcp_url: str, shared_org: McpOrg) -> None:
    response = rpc(mcp_url, shared_org.org_key, "tools/call", {"name": "get_me", "arguments": [1, 2]})
    result = result_of(response)
    assert result["isError"] is True
    assert result["structuredContent"]["error"] == "invalid_argument"


def test_missing_arguments_mean_none(mcp_url: str, shared_org: McpOrg) -> None:
    assert result_of(rpc(mcp_url, shared_org.org_key, "tools/call", {"name": "get_me"}))["isError"] is False


@pytest.mark.parametrize("name", ["no_such_tool", "", "get_me ", "GET_ME"])
def test_unknown_tool_is_a_json_rpc_invalid_params_error(mcp_url: str, shared_org: McpOrg, name: str) -> None:
    response = rpc(mcp_url, shared_org.org_key, "tools/call", {"name": name, "arguments": {}})
    assert response.status_code == 200
    assert response.json()["error"]["code"] == INVALID_PARAMS


def test_tool_name_must_be_a_string(mcp_url: str, shared_org: McpOrg) -> None:
    response = rpc(mcp_url, shared_org.org_key, "tools/call", {"name": 5})
    assert response.json()["error"]["code"] == INVALID_PARAMS


# --- 2026-07-28 ------------------------------------------------------------------------------------------------------


def test_modern_server_discover(mcp_url: str, shared_org: McpOrg) -> None:
    result = result_of(rpc(mcp_url, shared_org.org_key, "server/discover", {}, version=MODERN))
    validate("server/discover", MODERN, result)
    assert result["supportedVersions"] == [MODERN]
    assert result["resultType"] == "complete"
    assert result["capabilities"]["tools"] is not None
    assert result["instructions"]


def test_modern_discover_stamps_server_info(mcp_url: str, shared_org: McpOrg) -> None:
    discover = result_of(rpc(mcp_url, shared_org.org_key, "server/discover", {}, version=MODERN))
    assert discover["_meta"][SERVER_INFO_META_KEY]["name"] == "attention-mcp"


def test_modern_results_stamp_server_info(mcp_url: str, shared_org: McpOrg) -> None:
    listing = result_of(rpc(mcp_url, shared_org.org_key, "tools/list", {}, version=MODERN))
    called = call_tool(mcp_url, shared_org.org_key, "get_me", version=MODERN)
    for result in (listing, called):
        assert result.get("_meta", {}).get(SERVER_INFO_META_KEY, {}).get("name") == "attention-mcp", result.keys()


def modern_error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert "result" not in body, body
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(
    ("method", "params", "header_changes"),
    [
        ("tools/list", {}, {"Mcp-Method": "tools/call"}),
        ("tools/list", {}, {"Mcp-Method": "TOOLS/LIST"}),
        ("server/discover", {}, {"Mcp-Method": "tools/list"}),
        ("tools/call", {"name": "get_me", "arguments": {}}, {"Mcp-Name": "list_teams"}),
        ("tools/call", {"name": "get_me", "arguments": {}}, {"Mcp-Method": "tools/list"}),
    ],
)
def test_modern_mismatched_routing_header_is_400_header_mismatch(
    mcp_url: str, shared_org: McpOrg, method: str, params: dict[str, Any], header_changes: dict[str, str]
) -> None:
    headers = {**modern_headers(method, params.get("name")), **header_changes}
    response = post(mcp_url, shared_org.org_key, modern_request(method, params), headers)
    assert response.status_code == 400
    assert modern_error(response)["code"] == HEADER_MISMATCH


def test_modern_missing_method_header_is_header_mismatch(mcp_url: str, shared_org: McpOrg) -> None:
    headers = {"MCP-Protocol-Version": MODERN}
    response = post(mcp_url, shared_org.org_key, modern_request("tools/list"), headers)
    assert response.status_code == 400
    assert modern_error(response)["code"] == HEADER_MISMATCH


def test_modern_envelope_version_must_match_the_header(mcp_url: str, shared_org: McpOrg) -> None:
    body = request("tools/list", {"_meta": modern_meta("2025-11-25")})
    response = post(mcp_url, shared_org.org_key, body, modern_headers("tools/list"))
    assert response.status_code == 400
    assert modern_error(response)["code"] == HEADER_MISMATCH


def _envelopes() -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Requests and headers around the well-formed 2026-07-28 envelope, each part varied on its own or in pairs."""
    version_key, caps_key = "io.modelcontextprotocol/protocolVersion", "io.modelcontextprotocol/clientCapabilities"
    encoded = "=?base64?Z2V0X21l?="  # "get_me", as a client encodes a header value
    metas: list[Any] = [
        {version_key: MODERN, caps_key: {}},
        {version_key: MODERN},
        {caps_key: {}},
        {version_key: "2025-11-25", caps_key: {}},
        {version_key: "2099-01-01", caps_key: {}},
        {version_key: 20260728, caps_key: {}},
        {version_key: None, caps_key: {}},
        {version_key: [MODERN], caps_key: {}},
        "not an object",
        None,
    ]
    cases: list[tuple[dict[str, Any], dict[str, str]]] = []
    routes = (("tools/call", "name"), ("resources/read", "uri"), ("prompts/get", "name"), ("tools/list", None))
    for method, name_key in routes:
        for meta in metas:
            for name in ("get_me", None, 7, encoded, "missing"):
                params: dict[str, Any] = {} if meta is None else {"_meta": meta}
                if name_key is not None and name != "missing":
                    params[name_key] = name
                for version_header in (MODERN, "2025-11-25", None):
                    for method_header in (method, "tools/list", method.upper(), None):
                        for name_header in ("get_me", encoded, "=?base64?!!?=", "list_teams", None):
                            headers = {
                                k: v
                                for k, v in {
                                    "mcp-protocol-version": version_header,
                                    "mcp-method": method_header,
                                    "mcp-name": name_header,
                                }.items()
                                if v is not None
                            }
                            cases.append(({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, headers))
                            cases.append(({"jsonrpc": "2.0", "id": 1, "method": method}, headers))
    return cases


def test_the_envelope_check_agrees_with_the_sdk_ladder_everywhere() -> None:
    cases = _envelopes()
    shortcut = 0
    for message, headers in cases:
        sdk = classify_inbound_request(message, headers=headers, supported_modern_versions=protocol.MODERN_VERSIONS)
        ours = protocol.classify_modern(message, headers)
        expected = sdk if isinstance(sdk, InboundLadderRejection) else None
        assert ours == expected, (message, headers)
        if protocol._plainly_consistent(message, headers):
            shortcut += 1
            assert expected is None, (message, headers)
    # The check in front must answer for the ordinary envelope, or it only adds work.
    assert protocol._plainly_consistent(*modern_tools_call_get_me())
    assert 0 < shortcut < len(cases)


def modern_tools_call_get_me() -> tuple[dict[str, Any], dict[str, str]]:
    headers = {k.lower(): v for k, v in modern_headers("tools/call", "get_me").items()}
    return modern_request("tools/call", {"name": "get_me", "arguments": {}}), headers


@pytest.mark.parametrize(
    "params",
    [None, {}, {"_meta": {}}, {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}}, {"_meta": "x"}],
    ids=["no-params", "no-meta", "empty-meta", "no-capabilities", "meta-not-object"],
)
def test_modern_missing_envelope_is_400_invalid_params(
    mcp_url: str, shared_org: McpOrg, params: dict[str, Any] | None
) -> None:
    response = post(mcp_url, shared_org.org_key, request("tools/list", params), modern_headers("tools/list"))
    assert response.status_code == 400
    assert modern_error(response)["code"] == INVALID_PARAMS


@pytest.mark.parametrize("method", ["no/such/method", "resources/list", "initialize", "ping"])
def test_modern_unknown_method_is_http_404_method_not_found(mcp_url: str, shared_org: McpOrg, method: str) -> None:
    response = post(mcp_url, shared_org.org_key, modern_request(method), modern_headers(method))
    assert response.status_code == 404
    assert modern_error(response)["code"] == METHOD_NOT_FOUND


def test_modern_unknown_tool_is_http_400_invalid_params(mcp_url: str, shared_org: McpOrg) -> None:
    params = {"name": "no_such_tool", "arguments": {}}
    response = post(
        mcp_url, shared_org.org_key, modern_request("tools/call", params), modern_headers("tools/call", "no_such_tool")
    )
    assert response.status_code == 400
    assert modern_error(response)["code"] == INVALID_PARAMS


def test_modern_notification_is_202(mcp_url: str, shared_org: McpOrg) -> None:
    body = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1, "_meta": modern_meta()}}
    response = post(mcp_url, shared_org.org_key, body, modern_headers("notifications/cancelled"))
    assert response.status_code == 202
    assert response.content == b""
