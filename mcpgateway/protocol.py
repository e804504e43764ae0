"""JSON-RPC dispatch for the stateless Streamable HTTP endpoint.

This is the thin dispatcher the /mcp issue allows: the SDK's session and
transport machinery is not on the request path, but its types are. Static
results (initialize, server/discover, tools/list) are serialised once per
protocol version through the SDK's own result models, which drop the fields a
version does not know; tool results are checked against the same models in
the tests.

Version rules (PROTOCOL.md): 2025-03-26, 2025-06-18 and 2025-11-25 are
negotiated by `initialize`; 2026-07-28 is per request (no handshake, the
version and client capabilities travel in `params._meta` and must agree with
the `MCP-Protocol-Version` / `Mcp-Method` / `Mcp-Name` headers). A request
without the header is a 2025-03-26 request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import cache
from typing import Any, NamedTuple

import orjson
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError, DataError
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    NAME_BEARING_METHODS,
    InboundLadderRejection,
    classify_inbound_request,
    unsupported_protocol_version_rejection,
)
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from mcp_types import methods as sdk_methods

from accounts.errors import DomainError, InvalidArgument
from accounts.permissions import Actor
from mcpgateway import registry

logger = logging.getLogger(__name__)

HANDSHAKE_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS = ("2026-07-28",)
SUPPORTED_VERSIONS = HANDSHAKE_VERSIONS + MODERN_VERSIONS
LATEST_HANDSHAKE_VERSION = HANDSHAKE_VERSIONS[-1]
# A request without MCP-Protocol-Version comes from a client that predates the header.
DEFAULT_VERSION = "2025-03-26"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

SERVER_NAME = "attention-mcp"
SERVER_TITLE = "Attention"
SERVER_VERSION = "0.1.0"
INSTRUCTIONS = (
    "Conversation intelligence over an organisation's recorded calls. Start with search_calls to find calls "
    "(by text, date, rep, team, label or deal), then get_call_details or get_call_transcript for one call. "
    "Every tool acts with the caller's own permissions: calls the caller cannot see do not exist here. "
    "get_me tells who the caller is and what they may do."
)
# Clients may cache the static lists this long (2026-07-28 `ttlMs`).
STATIC_TTL_MS = 300_000


class Reply(NamedTuple):
    """What goes back over HTTP: a status and a JSON body (None means 202 with no body).

    Immutable; a NamedTuple, which costs a fraction of a frozen dataclass to build (one per request)."""

    status: int
    body: Any


ACCEPTED = Reply(202, None)


def jsonrpc_error(req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": error}


def _result(req_id: Any, result: Mapping[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


def _capabilities() -> dict[str, Any]:
    # Tools only; the list is fixed for the life of the process, so no listChanged notifications.
    return {"tools": {"listChanged": False}}


def _server_info() -> dict[str, Any]:
    return {
        "name": SERVER_NAME,
        "title": SERVER_TITLE,
        "version": SERVER_VERSION,
        "websiteUrl": settings.PUBLIC_BASE_URL,
    }


@cache
def _server_info_meta() -> dict[str, Any]:
    """2026-07-28 servers stamp their identity on every result."""
    return {SERVER_INFO_META_KEY: _server_info()}


@cache
def initialize_result(version: str) -> dict[str, Any]:
    data = {
        "protocolVersion": version,
        "capabilities": _capabilities(),
        "serverInfo": _server_info(),
        "instructions": INSTRUCTIONS,
    }
    return sdk_methods.serialize_server_result("initialize", version, data)


@cache
def discover_result(version: str) -> dict[str, Any]:
    data = {
        "_meta": _server_info_meta(),
        "supportedVersions": list(MODERN_VERSIONS),
        "capabilities": _capabilities(),
        "instructions": INSTRUCTIONS,
        "resultType": "complete",
        "ttlMs": STATIC_TTL_MS,
        "cacheScope": "public",
    }
    # The SDK's model drops any field this version's DiscoverResult does not define.
    return sdk_methods.serialize_server_result("server/discover", version, data)


@cache
def tools_list_result(version: str) -> dict[str, Any]:
    data: dict[str, Any] = {"tools": [spec.definition() for spec in registry.tools().values()]}
    if version in MODERN_VERSIONS:
        data.update(resultType="complete", ttlMs=STATIC_TTL_MS, cacheScope="public", _meta=_server_info_meta())
    return sdk_methods.serialize_server_result("tools/list", version, data)


def _is_request_id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _plainly_consistent(message: dict[str, Any], headers: Mapping[str, str]) -> bool:
    """True for the envelope a conforming client sends: an object `_meta` with both required keys, a supported
    version that the headers repeat, and a verbatim `Mcp-Name`. Every such request passes the SDK's ladder
    (tests/test_mcp_protocol.py checks that on generated envelopes); anything else, the ladder judges."""
    params = message.get("params")
    if type(params) is not dict:
        return False
    meta = params.get("_meta")
    if type(meta) is not dict or CLIENT_CAPABILITIES_META_KEY not in meta:
        return False
    version = meta.get(PROTOCOL_VERSION_META_KEY)
    method = message.get("method")
    if version not in MODERN_VERSIONS or headers.get("mcp-protocol-version") != version:
        return False
    if headers.get("mcp-method") != method:
        return False
    name_key = NAME_BEARING_METHODS.get(method) if type(method) is str else None
    if name_key is None or params.get(name_key) is None:
        return True
    name_header = headers.get("mcp-name")
    # An encoded header (=?base64?...?=) is the SDK's to decode.
    return name_header is not None and name_header == params[name_key] and not name_header.startswith("=?")


def classify_modern(message: dict[str, Any], headers: Mapping[str, str]) -> InboundLadderRejection | None:
    """The 2026-07-28 envelope ladder: the SDK's, after a check that passes what it would pass anyway.

    The SDK's ladder costs several microseconds on every request (a regular expression, ABC checks, a
    dataclass built and dropped); the check in front of it costs a fraction and answers for nearly all."""
    if _plainly_consistent(message, headers):
        return None
    verdict = classify_inbound_request(message, headers=headers, supported_modern_versions=MODERN_VERSIONS)
    return verdict if isinstance(verdict, InboundLadderRejection) else None


def _http_status(version: str, response: dict[str, Any]) -> int:
    """2026-07-28 maps JSON-RPC error codes to HTTP statuses; earlier versions answer 200."""
    if version in MODERN_VERSIONS and "error" in response:
        return ERROR_CODE_HTTP_STATUS.get(response["error"]["code"], 200)
    return 200


class Dispatcher:
    """Handles the decoded body of one POST for one authenticated actor (sync: runs in a worker thread)."""

    def __init__(self, *, actor: Actor, header_version: str | None, headers: Mapping[str, str]) -> None:
        self.actor = actor
        self.header_version = header_version
        self.headers = headers
        self.version = header_version or DEFAULT_VERSION

    def runs_inline(self, decoded: Any) -> bool:
        """True when handling `decoded` cannot touch the database (so it may run on the event loop):
        anything but a tool call, or a call of a tool that says it runs inline for this actor."""
        if not isinstance(decoded, dict):
            return not isinstance(decoded, list)  # a batch may hold tool calls
        if decoded.get("method") != "tools/call":
            return True
        params = decoded.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        spec = registry.tools().get(name) if isinstance(name, str) else None
        if spec is None:
            return True  # answered with an error, no tool runs
        return spec.inline is not None and spec.inline(self.actor)

    def handle_body(self, decoded: Any) -> Reply:
        if self.header_version is not None and self.header_version not in SUPPORTED_VERSIONS:
            req_id = decoded.get("id") if isinstance(decoded, dict) else None
            rejection = unsupported_protocol_version_rejection(self.header_version[:64], MODERN_VERSIONS)
            assert rejection is not None
            return Reply(
                400,
                jsonrpc_error(
                    req_id if _is_request_id(req_id) else None,
                    UNSUPPORTED_PROTOCOL_VERSION,
                    rejection.message,
                    rejection.data,
                ),
            )
        if isinstance(decoded, list):
            # Batches existed only in 2025-03-26.
            if self.version != "2025-03-26" or not decoded:
                return Reply(
                    400, jsonrpc_error(None, INVALID_REQUEST, "Batches are not supported at this protocol version")
                )
            replies = [self.handle_message(item) for item in decoded]
            bodies = [r.body for r in replies if r.body is not None]
            return Reply(200, bodies) if bodies else ACCEPTED
        return self.handle_message(decoded)

    def handle_message(self, msg: Any) -> Reply:
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            return Reply(400, jsonrpc_error(None, INVALID_REQUEST, "Invalid Request: expected a JSON-RPC 2.0 object"))
        method = msg.get("method")
        if "id" not in msg:
            if isinstance(method, str):
                return ACCEPTED  # a notification: nothing to answer, nothing we act on
            if "result" in msg or "error" in msg:
                return ACCEPTED  # a response: we never send requests, so there is nothing to match it to
            return Reply(400, jsonrpc_error(None, INVALID_REQUEST, "Invalid Request"))
        req_id = msg["id"]
        if not _is_request_id(req_id):
            return Reply(
                400, jsonrpc_error(None, INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
            )
        if not isinstance(method, str):
            if "result" in msg or "error" in msg:
                return ACCEPTED
            return Reply(400, jsonrpc_error(req_id, INVALID_REQUEST, "Invalid Request: method must be a string"))
        params = msg.get("params")
        if params is not None and not isinstance(params, dict):
            return self._reply(jsonrpc_error(req_id, INVALID_PARAMS, "params must be an object"))

        if self.version in MODERN_VERSIONS:
            rejection = classify_modern(msg, self.headers)
            if rejection is not None:
                body = jsonrpc_error(req_id, rejection.code, rejection.message, rejection.data)
                return Reply(ERROR_CODE_HTTP_STATUS.get(rejection.code, 400), body)
        return self._reply(self._dispatch(req_id, method, params or {}))

    def _reply(self, response: dict[str, Any]) -> Reply:
        return Reply(_http_status(self.version, response), response)

    def _dispatch(self, req_id: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
        modern = self.version in MODERN_VERSIONS
        if method == "initialize" and not modern:
            requested = params.get("protocolVersion")
            if not isinstance(requested, str):
                return jsonrpc_error(req_id, INVALID_PARAMS, "initialize needs params.protocolVersion")
            version = requested if requested in HANDSHAKE_VERSIONS else LATEST_HANDSHAKE_VERSION
            return _result(req_id, initialize_result(version))
        if method == "ping" and not modern:
            return _result(req_id, {})
        if method == "server/discover" and modern:
            return _result(req_id, discover_result(self.version))
        if method == "tools/list":
            if params.get("cursor") is not None:
                return jsonrpc_error(req_id, INVALID_PARAMS, "Invalid cursor")
            return _result(req_id, tools_list_result(self.version))
        if method == "tools/call":
            return self._call_tool(req_id, params)
        return jsonrpc_error(req_id, METHOD_NOT_FOUND, f"Method not found: {method}")

    def _call_tool(self, req_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        arguments = params.get("arguments")
        if not isinstance(name, str):
            return jsonrpc_error(req_id, INVALID_PARAMS, "tools/call needs params.name")
        spec = registry.tools().get(name)
        if spec is None:
            return jsonrpc_error(req_id, INVALID_PARAMS, f"Unknown tool: {name}")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            result = registry.error_result(InvalidArgument("arguments", "arguments must be an object"))
        else:
            result = self._run(spec, arguments)
        if self.version in MODERN_VERSIONS:
            result["resultType"] = "complete"
            result["_meta"] = _server_info_meta()
        return _result(req_id, result)

    def _run(self, spec: registry.ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            return registry.call_tool(spec, self.actor, arguments)
        except SynchronousOnlyOperation:
            raise  # an inline tool touched the database on the event loop: the gateway reruns it in a thread
        except DataError:
            # The database refused a value (out of range, unstorable): the caller's input, not an outage.
            logger.info("database refused a value in tool %s", spec.name)
            return registry.error_result(InvalidArgument("arguments", "A value is out of range or cannot be stored."))
        except DatabaseError:
            logger.exception("database error in tool %s", spec.name)
            return registry.error_result(_Unavailable())
        except Exception:
            logger.exception("unexpected error in tool %s", spec.name)
            return registry.error_result(_Internal())


class _Unavailable(DomainError):
    code = "unavailable"

    def __init__(self) -> None:
        super().__init__("The service is temporarily unavailable; try again shortly.")


class _Internal(DomainError):
    code = "internal_error"

    def __init__(self) -> None:
        super().__init__("The tool failed unexpectedly; the error was logged.")


def encode(body: Any) -> bytes:
    """Compact UTF-8 JSON. orjson (about ten times faster than the standard library, and on every reply);
    the standard library for what orjson refuses (integers beyond 64 bits, non-string keys)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def decode(body: bytes) -> Any:
    """Parse a request body. Raises ValueError (orjson's JSONDecodeError is one) for anything that is not
    strict UTF-8 JSON: NaN, infinities and unpaired surrogates included, which JSON-RPC peers cannot use."""
    return orjson.loads(body)
