"""Fixtures for the /mcp tests (see tests/support/mcp.py for the why). Load as a plugin::

pytest_plugins = ["tests.support.mcp_fixtures"]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.support.mcp import McpOrg, committed, make_org


@pytest.fixture(scope="module")
def mcp_url(live_server_url: str, django_db_blocker: Any) -> Iterator[str]:
    """The live server's /mcp URL; this process mints keys for it until the module ends, then the DB is flushed."""
    override = override_settings(PUBLIC_BASE_URL=live_server_url, MCP_RESOURCE_URL=f"{live_server_url}/mcp")
    override.enable()
    try:
        yield f"{live_server_url}/mcp"
    finally:
        override.disable()
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def shared_org(mcp_url: str, django_db_blocker: Any) -> McpOrg:
    """One organisation for a whole module: never revoke, deactivate or delete anything of it."""
    with django_db_blocker.unblock():
        return make_org()


@pytest.fixture
def fresh_org(mcp_url: str, db: None) -> McpOrg:
    """An organisation of the test's own (committed), free to change."""
    return committed(make_org)
