"""The whole connector journey, as a real MCP client performs it, over real HTTP against a live Daphne.

The official SDK's OAuth client drives discovery, registration, PKCE, the token exchange and the
retry after a 401; the person's part (login, consent) is done by `tests.support.oauth` as a
browser would: cookies, CSRF tokens, form posts.

This module runs its own server with a 1-second refresh grace window, so that "the old refresh
token then fails" can be shown without a long sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pytest
from django.core.management import call_command
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from accounts.models import User
from oauth.models import Application, Connection
from tests.support.live import free_port, server_log, start_daphne, stop_daphne
from tests.support.mcp import McpOrg, committed, make_org
from tests.support.oauth import REDIRECT_URI, browser_client, forms_of, open_consent, post_form, refresh

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    port = free_port()
    proc = start_daphne(port, {"OAUTH_REFRESH_GRACE_SECONDS": "1"})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_daphne(proc)
        print(server_log(proc)[-3000:])
        # What the server and committed() wrote is not rolled back: leave an empty database behind.
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def person(server: str, db: None) -> tuple[McpOrg, User]:
    def build() -> tuple[McpOrg, User]:
        org = make_org()
        org.admin.set_password(PASSWORD)
        org.admin.save(update_fields=["password"])
        return org, org.admin

    return committed(build)


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Person:
    """The human in the loop: follows the authorization URL in a browser, logs in, allows."""

    def __init__(self, email: str) -> None:
        self.email = email
        self.browser = browser_client()
        self.result: AuthorizationCodeResult | None = None
        self.authorizations = 0
        self.authorize_urls: list[str] = []

    async def redirect_handler(self, url: str) -> None:
        self.authorize_urls.append(url)
        self.authorizations += 1

        def consent() -> httpx.Response:
            return open_consent(self.browser, url, self.email, PASSWORD).answer(self.browser, "allow")

        response = await asyncio.to_thread(consent)
        assert response.status_code == 302
        location = response.headers["location"]
        assert location.startswith(REDIRECT_URI + "?")
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        self.result = AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


def test_connector_journey(server: str, person: tuple[McpOrg, User]) -> None:
    _org, admin = person
    mcp_url = f"{server}/mcp"

    # 1. Unauthenticated: 401 pointing at the protected-resource metadata, which names our issuer.
    anonymous = httpx.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=10)
    assert anonymous.status_code == 401
    challenge = anonymous.headers["www-authenticate"]
    assert f'resource_metadata="{server}/.well-known/oauth-protected-resource/mcp"' in challenge
    prm = httpx.get(f"{server}/.well-known/oauth-protected-resource/mcp", timeout=10).json()
    assert prm["resource"] == mcp_url
    assert prm["authorization_servers"] == [server]
    asm = httpx.get(f"{server}/.well-known/oauth-authorization-server", timeout=10).json()
    assert asm["issuer"] == server
    assert asm["code_challenge_methods_supported"] == ["S256"]
    assert "none" in asm["token_endpoint_auth_methods_supported"]

    # 2-4. The SDK discovers, registers (DCR), sends the person to authorize with PKCE + resource,
    # exchanges the code and lists / calls tools.
    storage = MemoryStorage()
    human = Person(admin.email)
    provider = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="Journey test client",
            redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=human.redirect_handler,
        callback_handler=human.callback_handler,
    )

    async def session() -> tuple[list[str], dict[str, Any]]:
        async with (
            httpx2.AsyncClient(auth=provider, timeout=20) as http,
            Client(streamable_http_client(mcp_url, http_client=http), mode="legacy") as client,
        ):
            tools = await client.list_tools()
            me = await client.call_tool("get_me", {})
            assert not me.is_error, me
            return [t.name for t in tools.tools], dict(me.structured_content or {})

    names, me = asyncio.run(asyncio.wait_for(session(), 60))
    assert {"get_me", "search_calls", "list_api_keys"} <= set(names)
    assert me["user"]["email"] == admin.email
    assert human.authorizations == 1
    query = parse_qs(urlsplit(human.authorize_urls[0]).query)
    assert query["resource"] == [mcp_url]
    assert query["code_challenge_method"] == ["S256"]
    assert human.result is not None
    assert human.result.iss == server
    assert storage.tokens is not None
    assert storage.tokens.refresh_token
    assert storage.client is not None
    client_id = storage.client.client_id
    application = Application.objects.get(client_id=client_id)
    assert application.is_dynamic
    assert application.name == "Journey test client"

    # 5. Refresh: a new pair; the old access token stops working at once.
    first_access, first_refresh = storage.tokens.access_token, storage.tokens.refresh_token
    rotated = refresh(server, client_id, first_refresh)
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    pair = rotated.json()
    assert pair["refresh_token"] != first_refresh
    assert pair["access_token"] != first_access
    assert bearer_call(mcp_url, first_access).status_code == 401
    assert bearer_call(mcp_url, pair["access_token"]).status_code == 200
    # ... and once the grace window has passed, the old refresh token fails (and, as a replay,
    # revokes the family: the rotated pair dies too).
    time.sleep(1.2)
    replay = refresh(server, client_id, first_refresh)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert bearer_call(mcp_url, pair["access_token"]).status_code == 401
    assert refresh(server, client_id, pair["refresh_token"]).status_code == 400

    # The SDK, on its next 401, takes the person through authorization again (still signed in).
    storage.tokens = OAuthToken(
        access_token=pair["access_token"], token_type="Bearer", refresh_token=pair["refresh_token"]
    )
    names, me = asyncio.run(asyncio.wait_for(session(), 60))
    assert me["user"]["email"] == admin.email
    assert human.authorizations == 2
    assert storage.tokens is not None
    live_access, live_refresh = storage.tokens.access_token, storage.tokens.refresh_token
    assert live_refresh is not None
    assert bearer_call(mcp_url, live_access).status_code == 200

    # 6. Connected apps lists the client with its scopes and last use; Disconnect ends its access.
    page = human.browser.get(f"{server}/account/connected-apps/")
    assert page.status_code == 200
    assert "Journey test client" in page.text
    assert "mcp:read" in page.text
    assert "not verified" in page.text
    assert Connection.objects.get(user=admin, application=application).last_used_at is not None
    form = next(f for f in forms_of(page.text) if f["action"].endswith(f"/{application.pk}/disconnect/"))
    disconnected = post_form(human.browser, page, form)
    assert disconnected.status_code == 303
    assert bearer_call(mcp_url, live_access).status_code == 401
    assert refresh(server, client_id, live_refresh).status_code in (400, 401)
    after = human.browser.get(f"{server}/account/connected-apps/")
    assert "Journey test client" not in after.text


def bearer_call(mcp_url: str, token: str) -> httpx.Response:
    return httpx.post(
        mcp_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_me", "arguments": {}}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
