"""The Actor: who is acting, for every entry point.

MCP bearer authentication, OAuth, API keys, the admin and management commands
each build an Actor and pass it to selectors and services, which are the only
places that decide what it may see or do.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from accounts.errors import PermissionDenied

Via = Literal["oauth", "user_key", "org_key", "session", "operator", "system"]

READ = "mcp:read"
WRITE = "mcp:write"
ALL_SCOPES: frozenset[str] = frozenset({READ, WRITE})


@dataclass(frozen=True, slots=True)
class Actor:
    org_id: uuid.UUID
    user_id: uuid.UUID | None  # None for org-level keys, operators and system jobs
    roles: frozenset[str]  # role types: "admin", "manager", "sales_rep"
    scopes: frozenset[str]
    via: Via

    @property
    def is_admin(self) -> bool:
        """Admins, and the org-wide credentials that act with an admin's reach."""
        return "admin" in self.roles or self.user_id is None

    @property
    def is_manager(self) -> bool:
        return "manager" in self.roles

    @classmethod
    def org_wide(cls, org_id: uuid.UUID, via: Via) -> Actor:
        """An actor bound to no user with full reach in one org (org keys, operators, system jobs)."""
        return _org_wide(org_id, via)

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise PermissionDenied("insufficient_scope", f"This action needs the {scope} scope.", required_scope=scope)

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied("admin_required", "This action needs the admin role.")

    def require_user(self) -> uuid.UUID:
        if self.user_id is None:
            raise PermissionDenied(
                "user_required", "This action needs a user-level credential (an OAuth login or a user-level key)."
            )
        return self.user_id


_ADMIN_ONLY: frozenset[str] = frozenset({"admin"})


@lru_cache(maxsize=4096)
def _org_wide(org_id: uuid.UUID, via: Via) -> Actor:
    # Immutable and equal by value: one instance per organisation and credential kind serves every request
    # (every org-key request builds one, and a frozen dataclass is slow to build).
    return Actor(org_id=org_id, user_id=None, roles=_ADMIN_ONLY, scopes=ALL_SCOPES, via=via)
