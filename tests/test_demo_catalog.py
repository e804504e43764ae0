"""Every tool against the demo data, over real HTTP, with the official SDK client (issue 6's "done when").

`scripts/smoke_catalog.py` is the same check an operator runs against `make run`; here it runs against the
live test server after `seed_demo` has built a small demo organisation, with its admin's user-level key.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
from pathlib import Path
from types import ModuleType

import pytest
from django.core.management import call_command

from accounts.models import Organization, RoleType, User
from accounts.permissions import Actor
from apikeys.services import apikey_create
from mcpgateway import registry
from tests.support.mcp import committed

pytest_plugins = ["tests.support.mcp_fixtures"]  # mcp_url: the live server, flushed when the module ends
pytestmark = pytest.mark.django_db

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "smoke_catalog.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smoke_catalog", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_and_mint() -> str:
    call_command(
        "seed_demo", "--org-name", "Smoke Demo", "--calls", "20", "--password", "smoke-pass", stdout=io.StringIO()
    )
    org = Organization.objects.get(slug="smoke-demo")
    admin = User.objects.filter(org=org, roles__type=RoleType.ADMIN).order_by("email").first()
    assert admin is not None
    _, token = apikey_create(
        actor=Actor.org_wide(org.pk, via="operator"), name="smoke", org_level=False, user_id=admin.pk
    )
    return token


def test_every_tool_works_on_the_demo_data_with_the_sdk_client(mcp_url: str) -> None:
    token = committed(seed_and_mint)
    smoke = asyncio.run(asyncio.wait_for(load_script().exercise(mcp_url, token), timeout=180))
    assert smoke.failures == []
    assert set(smoke.called) == set(registry.tools())
