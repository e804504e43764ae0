"""OAuth sign-in in a real browser (headless Debian Chromium under Playwright) against the live Daphne:
login -> consent -> redirect back to the client with code, state and iss; then Connected apps and
Disconnect. Screenshots land in test-artifacts/ (oauth-login.png, oauth-consent.png, connected-apps.png).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Route, expect

from oauth.models import Connection
from tests.support.browser import screenshot
from tests.support.mcp import McpOrg, committed, make_org
from tests.support.oauth import REDIRECT_URI, authorize_url, exchange_code, pkce_pair, register_client

pytestmark = pytest.mark.live
PASSWORD = "correct horse battery staple"


@pytest.fixture
def org(live_mcp_url: str) -> McpOrg:
    """Committed (the live server must see it) before the browser's event loop starts."""
    org = make_org()
    org.admin.set_password(PASSWORD)
    org.admin.save(update_fields=["password"])
    return org


def test_login_consent_redirect_and_disconnect_in_a_browser(
    org: McpOrg, live_server_url: str, browser: Browser
) -> None:
    base = live_server_url
    client = register_client(base, name="Browser Test Client")
    verifier, challenge = pkce_pair()
    url = authorize_url(base, client["client_id"], challenge, state="browser-state", scope="mcp:read claudeai")

    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    landed: list[str] = []

    def callback(route: Route) -> None:  # the client's loopback listener
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="You can close this window.")

    page.route(f"{REDIRECT_URI}**", callback)

    page.goto(url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "oauth-login")
    page.get_by_label("Email").fill(org.admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    heading = page.get_by_role("heading", name="Connect Browser Test Client to your Attention account?")
    expect(heading).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("not verified")
    expect(page.locator(".redirect-host")).to_have_text("127.0.0.1")
    expect(page.locator(".scopes")).to_contain_text("mcp:read")
    expect(page.locator(".scopes")).not_to_contain_text("claudeai")  # unknown scopes are dropped, not refused
    expect(page.locator(".scopes")).not_to_contain_text("mcp:write")
    screenshot(page, "oauth-consent")
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(f"{REDIRECT_URI}**")
    assert len(landed) == 1
    params = {k: v[0] for k, v in parse_qs(urlsplit(landed[0]).query).items()}
    assert params["state"] == "browser-state"
    assert params["iss"] == base
    assert problems == []  # no CSP violation: form-action let the post-submit redirect through

    tokens = exchange_code(base, client["client_id"], params["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "mcp:read"

    page.goto(f"{base}/account/connected-apps/")
    expect(page.get_by_role("table")).to_contain_text("Browser Test Client")
    screenshot(page, "connected-apps")
    page.get_by_role("button", name="Disconnect Browser Test Client").click()
    expect(page.get_by_role("status")).to_contain_text("disconnected")
    expect(page.get_by_text("No application is connected to your account.")).to_be_visible()
    assert committed(Connection.objects.filter(user=org.admin).count) == 0
