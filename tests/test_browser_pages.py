"""The pages in a real browser (headless Debian Chromium under Playwright) against the live Daphne.

Screenshots of each page land in test-artifacts/. While the browser runs, the database is touched
only through `committed()` (see tests/support/browser.py for why).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, expect

from accounts.models import User
from apikeys import tokens
from apikeys.models import ApiKey
from tests.support.browser import screenshot
from tests.support.mcp import McpOrg, assert_invalid_token, committed, make_org, result_of, rpc

pytestmark = pytest.mark.live

PASSWORD = "correct horse battery staple"


@dataclass
class LiveAdmin:
    base: str
    mcp_url: str
    org: McpOrg

    @property
    def email(self) -> str:
        return self.org.admin.email


@pytest.fixture
def live_admin(live_mcp_url: str, live_server_url: str) -> LiveAdmin:
    """An organisation whose admin can sign in with PASSWORD (committed: the test is transactional)."""
    org = make_org()
    set_password(org.admin, PASSWORD)
    return LiveAdmin(base=live_server_url, mcp_url=live_mcp_url, org=org)


def set_password(user: User, password: str) -> None:
    user.set_password(password)
    user.save(update_fields=["password"])


def open_page(browser: Browser, problems: list[str]) -> Page:
    """A page that records CSP violations, script errors and failed requests into `problems`."""
    context = browser.new_context(
        permissions=["clipboard-read", "clipboard-write"], viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def on_request_failed(request: Request) -> None:
        # A navigation cancels what the page still loads (often its favicon): not a failure of ours.
        if request.failure != "net::ERR_ABORTED":
            problems.append(f"request failed: {request.url} ({request.failure})")

    page.on("requestfailed", on_request_failed)
    return page


def sign_in(page: Page, admin: LiveAdmin, password: str = PASSWORD) -> None:
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_admin_signs_in_creates_copies_and_revokes_an_api_key(live_admin: LiveAdmin, browser: Browser) -> None:
    problems: list[str] = []
    page = open_page(browser, problems)

    # Sign in, arriving from a protected page: `next` brings us back to it.
    page.goto(f"{live_admin.base}/settings/api-keys/")
    expect(page).to_have_url(f"{live_admin.base}/accounts/login/?next=/settings/api-keys/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # Our stylesheet loaded (the CSP allows 'self'): the header has its dark background.
    header_bg = page.locator(".site-header").evaluate("e => getComputedStyle(e).backgroundColor")
    assert header_bg == "rgb(16, 24, 40)"
    screenshot(page, "login")

    sign_in(page, live_admin, password="wrong password")
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    screenshot(page, "login-error")
    sign_in(page, live_admin)
    expect(page).to_have_url(f"{live_admin.base}/settings/api-keys/")
    expect(page.get_by_role("heading", name="API keys", exact=True)).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Connected apps")).to_be_visible()
    expect(nav.get_by_role("link", name="Settings API keys")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("banner")).to_contain_text(f"Signed in as {live_admin.email}")

    # Create a user-level key that expires in 30 days.
    page.get_by_label("Name").fill("Browser-made key")
    page.get_by_label("User-level: acts as you").check()
    page.get_by_label("Expires after").select_option(label="30 days")
    screenshot(page, "api-keys")
    page.get_by_role("button", name="Create key").click()

    expect(page.get_by_role("heading", name="API key created")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("cannot be shown again")
    token = page.get_by_label("API key", exact=True).input_value()
    row = committed(ApiKey.objects.get, org=live_admin.org.org, name="Browser-made key")
    assert row.token_hash == tokens.token_hash(token)
    assert row.user_id == live_admin.org.admin.pk
    assert row.expires_at is not None

    # The copy button is revealed by our script and puts the token on the clipboard.
    copy = page.get_by_role("button", name="Copy key")
    expect(copy).to_be_visible()
    copy.click()
    expect(page.get_by_role("status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == token
    screenshot(page, "api-key-created")

    # The key works on /mcp; the list shows it without its token.
    assert "tools" in result_of(rpc(live_admin.mcp_url, token, "tools/list"))
    page.get_by_role("link", name="Done, back to API keys").click()
    listing = page.get_by_role("table")
    expect(listing).to_contain_text("Browser-made key")
    expect(listing).to_contain_text(row.display_prefix)
    expect(listing).to_contain_text(f"User: {live_admin.email}")
    assert token not in page.content()
    screenshot(page, "api-keys-list")

    # Revoke, after the confirmation page; the key then fails on /mcp.
    page.get_by_role("link", name="Revoke… Browser-made key").click()
    expect(page.get_by_role("heading", name="Revoke “Browser-made key”?")).to_be_visible()
    screenshot(page, "api-key-revoke")
    page.get_by_role("button", name="Revoke key").click()
    expect(page).to_have_url(f"{live_admin.base}/settings/api-keys/")
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    expect(page.get_by_role("table")).not_to_contain_text("Browser-made key")
    assert_invalid_token(rpc(live_admin.mcp_url, token, "tools/list"), live_admin.base)

    # Sign out: back to the login page, and the settings page asks to sign in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_admin.base}/accounts/login/")
    page.goto(f"{live_admin.base}/settings/api-keys/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    assert problems == []


def test_a_rep_sees_no_api_keys_link_and_a_plain_403(live_admin: LiveAdmin, browser: Browser) -> None:
    rep: User = live_admin.org.rep
    committed(set_password, rep, PASSWORD)  # the browser runs: no database access on this thread
    problems: list[str] = []
    page = open_page(browser, problems)
    page.goto(f"{live_admin.base}/accounts/login/")
    page.get_by_label("Email").fill(rep.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_admin.base}/account/")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings API keys")).to_have_count(0)
    screenshot(page, "account")
    response = page.goto(f"{live_admin.base}/settings/api-keys/")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Organisation admins only")).to_be_visible()
    screenshot(page, "api-keys-forbidden")
    # The 403 page itself logs an error in the console ("Failed to load resource"); nothing else may.
    assert [p for p in problems if "403" not in p] == []


def test_why_not_no_referrer_chrome_posts_origin_null_which_csrf_refuses(
    live_admin: LiveAdmin, browser: Browser
) -> None:
    """Pins the reason strict_page sends Referrer-Policy: same-origin (attention_mcp/web.py)."""
    page = open_page(browser, [])

    def as_no_referrer(route: Route) -> None:
        if route.request.method != "GET":
            route.continue_()
            return
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "referrer-policy": "no-referrer"})

    page.route("**/accounts/login/", as_no_referrer)
    page.goto(f"{live_admin.base}/accounts/login/")
    page.get_by_label("Email").fill(live_admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    with (
        page.expect_request(lambda r: r.method == "POST") as posted,
        page.expect_response(lambda r: r.request.method == "POST") as answered,
    ):
        page.get_by_role("button", name="Sign in").click()
    assert posted.value.headers.get("origin") == "null"
    assert answered.value.status == 403
