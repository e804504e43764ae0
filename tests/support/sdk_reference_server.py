"""Minimal MCP servers built with the official Python SDK, used as yardsticks for the conformance suite.

Two ASGI apps, both stateless Streamable HTTP with JSON responses at ``/mcp`` and no authentication
(they ignore any ``Authorization`` header), each with one ``echo`` tool and none of the suite's fixtures:

``app``
    The SDK's high-level ``MCPServer``. It advertises tools, prompts and resources (empty lists) and no
    logging or completions, and answers a call to an unknown tool with an ``isError`` result.

``tools_only_app``
    The SDK's low-level ``Server`` with only ``tools/list`` and ``tools/call``: it advertises the ``tools``
    capability alone and answers an unknown tool with JSON-RPC error -32602, which is the shape of our
    product's /mcp endpoint. What it fails is what a spec-correct tools-only server is expected to fail.

Running the official conformance suite against them tells fixture-only scenarios (which need the suite's
``test_*`` tools, ``test://`` resources or ``test_*`` prompts) apart from real failures.

Run one by hand::

    .venv/bin/python -m uvicorn tests.support.sdk_reference_server:app --host 127.0.0.1 --port 8765
    .venv/bin/python -m uvicorn tests.support.sdk_reference_server:tools_only_app --host 127.0.0.1 --port 8766
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette

ECHO_DESCRIPTION = "Echo the given text back."

# -- the high-level MCPServer ---------------------------------------------------------------------------------

server: MCPServer[Any] = MCPServer(name="sdk-reference-server", version="1.0.0")


@server.tool(name="echo", description=ECHO_DESCRIPTION)
def echo(text: str) -> str:
    """Return ``text`` unchanged."""
    return text


app: Starlette = server.streamable_http_app(
    streamable_http_path="/mcp",
    stateless_http=True,
    json_response=True,
    host="127.0.0.1",
)

# -- the low-level, tools-only Server -------------------------------------------------------------------------

ECHO_TOOL = types.Tool(
    name="echo",
    title="Echo",
    description=ECHO_DESCRIPTION,
    input_schema={
        "type": "object",
        "properties": {"text": {"type": "string", "description": "Text to echo."}},
        "required": ["text"],
        "additionalProperties": False,
    },
    annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
)


async def _list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[ECHO_TOOL])


async def _call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
    if params.name != ECHO_TOOL.name:
        raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
    text = (params.arguments or {}).get("text")
    if not isinstance(text, str):
        return types.CallToolResult(
            content=[types.TextContent(type="text", text="invalid arguments: 'text' must be a string")],
            is_error=True,
        )
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


tools_only_server: Server[Any] = Server(
    "sdk-tools-only-server",
    version="1.0.0",
    on_list_tools=_list_tools,
    on_call_tool=_call_tool,
)

tools_only_app: Starlette = tools_only_server.streamable_http_app(
    streamable_http_path="/mcp",
    stateless_http=True,
    json_response=True,
    host="127.0.0.1",
)
