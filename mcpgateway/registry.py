"""The tool registry: every MCP tool is one decorated, typed function in `<app>/mcp_tools.py`.

Schemas come from the function's type hints through the official SDK's own
`func_metadata`, so they are exactly what the SDK's MCPServer would publish.
The registry checks the credential-level marks (scope, user-level) in one
place; roles (admin, owner) are checked by the services the tools call.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Literal, TypeVar

import orjson
from django.conf import settings
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata, func_metadata
from pydantic import BaseModel, ValidationError

from accounts.errors import DomainError, InvalidArgument, PermissionDenied
from accounts.permissions import READ, WRITE, Actor

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    fn: Callable[..., Any]
    meta: FuncMetadata
    scope: str
    admin: bool
    user_required: bool
    read_only: bool
    destructive: bool
    idempotent: bool
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    arg_names: frozenset[str] = field(default_factory=frozenset)
    # When it says so for an actor, the tool needs nothing beyond what authentication already read, and
    # the gateway runs it on the event loop instead of a worker thread (read-only tools only).
    inline: Callable[[Actor], bool] | None = None

    def definition(self) -> dict[str, Any]:
        """The tool as tools/list publishes it (the newest shape; older versions are cut down by the SDK's models)."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "outputSchema": self.output_schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.read_only,
                "destructiveHint": self.destructive,
                "idempotentHint": self.idempotent,
                "openWorldHint": False,
            },
        }


_REGISTRY: dict[str, ToolSpec] = {}
_loaded = False


def _input_schema(meta: FuncMetadata) -> dict[str, Any]:
    schema = meta.arg_model.model_json_schema(by_alias=True)
    schema.pop("title", None)
    schema["type"] = "object"
    schema.setdefault("properties", {})
    # Unknown arguments are refused rather than silently ignored: a typo must not change what a call means.
    schema["additionalProperties"] = False
    if not schema["properties"]:
        schema.pop("properties")
    return schema


def tool(
    *,
    title: str,
    access: Literal["read", "write"],
    admin: bool = False,
    user_required: bool = False,
    destructive: bool = False,
    idempotent: bool = False,
    inline: Callable[[Actor], bool] | None = None,
) -> Callable[[F], F]:
    """Register a tool. Its first parameter is the Actor; the rest become the input schema.

    `admin` is a mark (published, and checked by the authorization matrix); the
    services the tool calls are what enforce it.

    `inline(actor)` true promises that, for that actor, the tool reads only the request's memo (what
    authentication loaded), never the database, so it may run on the event loop. Should it touch the
    database after all, Django refuses (SynchronousOnlyOperation) before any query runs and the gateway
    runs the call again in a worker thread; that is safe only for read-only tools, hence the rule.
    """
    if inline is not None and access != "read":
        raise TypeError("only read tools may run inline")

    def register(fn: F) -> F:
        params = list(inspect.signature(fn).parameters)
        if not params or params[0] != "actor":
            raise TypeError(f"tool {fn.__name__}: the first parameter must be `actor`")
        description = inspect.cleandoc(fn.__doc__ or "")
        if not description:
            raise TypeError(f"tool {fn.__name__} needs a docstring: it is the description the model reads")
        meta = func_metadata(fn, skip_names=["actor"], structured_output=True)
        if meta.output_schema is None:
            raise TypeError(f"tool {fn.__name__} needs a structured return type")
        input_schema = _input_schema(meta)
        arg_names = frozenset((f.alias or name) for name, f in meta.arg_model.model_fields.items())
        spec = ToolSpec(
            name=fn.__name__,
            title=title,
            description=description,
            fn=fn,
            meta=meta,
            scope=READ if access == "read" else WRITE,
            admin=admin,
            user_required=user_required,
            read_only=access == "read",
            destructive=destructive,
            idempotent=idempotent or access == "read",
            input_schema=input_schema,
            output_schema=meta.output_schema,
            arg_names=arg_names,
            inline=inline,
        )
        if spec.name in _REGISTRY and _REGISTRY[spec.name].fn is not fn:
            raise ValueError(f"tool {spec.name} is registered twice")
        _REGISTRY[spec.name] = spec
        return fn

    return register


def tools() -> dict[str, ToolSpec]:
    """All registered tools, importing every module named in settings.MCP_TOOL_MODULES once."""
    global _loaded
    if not _loaded:
        for module in settings.MCP_TOOL_MODULES:
            import_module(module)
        _loaded = True
    return _REGISTRY


def _text(structured: Any) -> str:
    """The structured result as the text block's compact JSON (orjson; the standard library for what it refuses)."""
    try:
        return orjson.dumps(structured).decode()
    except TypeError:
        return json.dumps(structured, ensure_ascii=False, separators=(",", ":"))


def error_result(error: DomainError) -> dict[str, Any]:
    body = error.as_dict()
    return {
        "content": [{"type": "text", "text": _text(body)}],
        "structuredContent": body,
        "isError": True,
    }


def _validation_error(exc: ValidationError) -> InvalidArgument:
    first = exc.errors(include_url=False)[0]
    loc = [str(p) for p in first.get("loc", ())]
    field_name = loc[0] if loc else "arguments"
    where = ".".join(loc) or "arguments"
    return InvalidArgument(field_name, f"Invalid value for {where}: {first.get('msg', 'invalid')}.")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def call_tool(spec: ToolSpec, actor: Actor, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run one tool for one actor: a CallToolResult dict, failures as `isError` results (sync: a worker thread)."""
    try:
        actor.require_scope(spec.scope)
        # Any credential bound to no person (org-level keys, operators, system jobs) cannot act as one.
        if spec.user_required and actor.user_id is None:
            raise PermissionDenied(
                "user_required",
                "This tool acts as a person: use an OAuth login or a user-level API key, not an org-level key.",
            )
        if arguments:
            unknown = sorted(set(arguments) - spec.arg_names)
            if unknown:
                raise InvalidArgument(unknown[0], f"Unknown argument {unknown[0]!r}.")
            # No database stores NUL in text; refuse it here as bad input rather than fail deep down.
            for name, value in arguments.items():
                if _has_nul(value):
                    raise InvalidArgument(name, f"{name} must not contain NUL characters.")
        kwargs: dict[str, Any] = {}  # nothing declared, nothing given: nothing to validate
        if arguments or spec.arg_names:
            try:
                kwargs = spec.meta.validate_arguments(arguments)
            except ValidationError as exc:
                raise _validation_error(exc) from None
        result = spec.fn(actor, **kwargs)
    except DomainError as exc:
        return error_result(exc)
    structured = result.model_dump(mode="json", by_alias=True) if isinstance(result, BaseModel) else result
    return {
        "content": [{"type": "text", "text": _text(structured)}],
        "structuredContent": structured,
        "isError": False,
    }
