"""The official MCP conformance suite against our own /mcp, at every protocol version we negotiate.

The suite sends no Authorization header, so it talks to a loopback proxy that
adds an org-level API key; the product itself has no unauthenticated mode.
Scenarios only the suite's own fixture server can pass (test_* tools,
resources, prompts) are listed with their reasons in
tests/conformance_expected_failures.json; everything else must pass.
"""

from __future__ import annotations

import sys

import pytest

from accounts.permissions import Actor
from accounts.services import organization_create
from apikeys.services import apikey_create
from tests.support.auth_proxy import AuthProxy
from tests.support.conformance import (
    SPEC_VERSIONS,
    ConformanceUnavailable,
    ensure_toolchain,
    evaluate,
    load_expected_failures,
    run_conformance,
)

pytestmark = pytest.mark.live


def test_product_passes_every_applicable_conformance_scenario(live_mcp_url: str) -> None:
    try:
        ensure_toolchain()
    except ConformanceUnavailable as exc:
        print(f"conformance suite unavailable: {exc}", file=sys.stderr)
        pytest.skip(f"Node >= 22 / MCP conformance suite could not be installed: {exc}")
    org = organization_create(name="Conformance", slug="conformance", email_domains=["conformance.example"])
    _, token = apikey_create(actor=Actor.org_wide(org.pk, via="operator"), name="conformance suite")
    with AuthProxy(live_mcp_url.removesuffix("/mcp"), token) as proxy:
        results = {
            version: run_conformance(f"{proxy.url}/mcp", None, spec_version=version) for version in SPEC_VERSIONS
        }
    report = evaluate(results, load_expected_failures())
    assert not report.unexpected, report.describe(stale=False)
