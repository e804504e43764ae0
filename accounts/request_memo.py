"""Rows already read during the current MCP request, so that one request never reads them twice.

Only active inside `request_scope()` (the /mcp gateway opens one per request and
drops it at the end), so nothing outlives a request or leaks between threads.
Authentication reads the organisation's id, name and slug with the key and
remembers them as they came; `access_org` builds the model instance from them
only when a selector asks for one (most requests never do).
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.models import Organization

# (id, name, slug) as read, or the instance once built.
OrgRow = tuple[uuid.UUID, str, str]
_local = threading.local()


class request_scope:
    """`with request_scope(): ...` -- a memo for this request on this thread, dropped at the end.

    A class (named like the @contextmanager function it replaced) rather than a generator: it is entered
    on every request, and a generator-based context manager costs several times as much."""

    __slots__ = ()

    def __enter__(self) -> None:
        _local.orgs = {}

    def __exit__(self, *exc: Any) -> None:
        _local.orgs = None


def _orgs() -> dict[uuid.UUID, Organization | OrgRow] | None:
    """This request's organisations by id; None outside a request scope."""
    return getattr(_local, "orgs", None)


def remember_org_row(row: OrgRow) -> None:
    """The organisation's id, name and slug, exactly as just read from the database."""
    orgs = _orgs()
    if orgs is not None:
        orgs[row[0]] = row


def known_org(org_id: uuid.UUID) -> Organization | None:
    """The organisation's instance if this request read it (its other fields load on first touch)."""
    orgs = _orgs()
    found = orgs.get(org_id) if orgs else None
    if found is None or not isinstance(found, tuple):
        return found
    from accounts.models import Organization

    org = Organization.from_db("default", ["id", "name", "slug"], list(found))
    orgs[org_id] = org  # type: ignore[index]
    return org


def known_org_row(org_id: uuid.UUID) -> OrgRow | None:
    """(id, name, slug) if this request read the organisation, without building a model instance."""
    orgs = _orgs()
    found = orgs.get(org_id) if orgs else None
    if found is None or isinstance(found, tuple):
        return found
    return (found.pk, found.name, found.slug)
