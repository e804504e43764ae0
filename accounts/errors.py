"""Errors as values with codes.

Selectors and services raise these; every entry point (MCP tools, admin,
commands, REST) translates them in one place. "Missing" and "not yours" are
the same NotFound so that ids of other organisations leak nothing.
"""

from __future__ import annotations

import uuid
from typing import Any


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.details}


class NotFound(DomainError):
    code = "not_found"

    def __init__(self, entity: str, ident: object | None = None) -> None:
        # The id is echoed back only as the caller sent it, never with anything we know about it.
        message = f"{entity} not found" if ident is None else f"{entity} {ident} not found"
        super().__init__(message)
        self.entity = entity


class PermissionDenied(DomainError):
    """A check on the actor failed; `code` says which (admin_required, user_required, insufficient_scope, ...)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code


class InvalidArgument(DomainError):
    code = "invalid_argument"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)
        self.field = field


class Conflict(DomainError):
    code = "conflict"


def parse_id(entity: str, value: object) -> uuid.UUID:
    """A UUID from what a caller sent; anything malformed is simply NotFound, like any other unknown id."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(entity, str(value)[:64]) from None
