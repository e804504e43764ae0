"""Calling tools in-process through the registry's own path (scope and user-level checks, argument validation,
error translation), as the /mcp endpoint does after authentication."""

from __future__ import annotations

import json
from typing import Any

from accounts.permissions import Actor
from mcpgateway import registry


def call(actor: Actor, name: str, /, **args: Any) -> dict[str, Any]:
    """One tools/call through the registry; the text block always mirrors structuredContent."""
    result = registry.call_tool(registry.tools()[name], actor, args)
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    return result


def ok(actor: Actor, name: str, /, **args: Any) -> dict[str, Any]:
    result = call(actor, name, **args)
    assert result["isError"] is False, result
    structured: dict[str, Any] = result["structuredContent"]
    return structured


def err(actor: Actor, name: str, /, **args: Any) -> dict[str, Any]:
    result = call(actor, name, **args)
    assert result["isError"] is True, result
    structured: dict[str, Any] = result["structuredContent"]
    return structured
