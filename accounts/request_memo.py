"""Rows already read during the current MCP request, so that one request never reads them twice.

Only active inside `request_scope()` (the /mcp worker opens one per request and
drops it at the end), so nothing outlives a request or leaks between threads.
Authentication reads the organisation with the key; `access_org` then reuses it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.models import Organization

_local = threading.local()


@contextmanager
def request_scope() -> Iterator[None]:
    _local.orgs = {}
    try:
        yield
    finally:
        _local.orgs = None


def remember_org(org: Organization) -> None:
    orgs: dict[uuid.UUID, Organization] | None = getattr(_local, "orgs", None)
    if orgs is not None:
        orgs[org.pk] = org


def known_org(org_id: uuid.UUID) -> Organization | None:
    orgs: dict[uuid.UUID, Organization] | None = getattr(_local, "orgs", None)
    return orgs.get(org_id) if orgs else None
