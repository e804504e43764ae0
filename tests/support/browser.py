"""A real browser for page tests: Playwright driving Debian's headless Chromium (a pytest plugin).

Playwright's own browser download does not work here; scripts/ensure-chromium.sh (run by
`make test`) installs /usr/bin/chromium instead. Use::

    def test_sign_in(live_user, browser):          # data fixtures first, `browser` last
        page = browser.new_page()
        page.goto(f"{live_server_url}/accounts/login/")
        ...
        screenshot(page, "login")                  # -> test-artifacts/login.png

One browser per test: while Playwright's sync API runs, its event loop counts as running on the
test thread, so Django refuses database access there (SynchronousOnlyOperation). The fixture
therefore sets up the test's database fixtures before it starts and stops before they are torn
down; inside the test, read or write the database through `committed()` (tests/support/mcp.py),
which runs on a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
_DB_FIXTURES = ("django_db_setup", "db", "transactional_db", "live_server_url", "mcp_url", "live_mcp_url")


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Headless Chromium (/usr/bin/chromium) under Playwright, for one test."""
    # Database fixtures must exist before the event loop starts (and be torn down after it stops).
    for name in _DB_FIXTURES:
        if name in request.fixturenames:
            request.getfixturevalue(name)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh (make test does)", pytrace=False)
    args = ["--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium's sandbox cannot run as root
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            yield chromium
        finally:
            chromium.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG as test-artifacts/<name>.png and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
