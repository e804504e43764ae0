"""OAuth helpers for tests: PKCE pairs, clients registered over HTTP, and a person's login and consent
driven as a browser would drive them (cookies, CSRF tokens, form posts, redirects not followed off-site)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

REDIRECT_URI = "http://127.0.0.1:33418/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class _Forms(HTMLParser):
    """Every <form>: its action, method and the name/value of each input and submit button."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "action": attributes.get("action", ""),
                    "method": attributes.get("method", "get"),
                    "fields": {},
                    "buttons": [],
                }
            )
        elif tag in ("input", "button") and self.forms and attributes.get("name"):
            if tag == "button" or attributes.get("type") == "submit":
                self.forms[-1]["buttons"].append((attributes["name"], attributes.get("value", "")))
            else:
                self.forms[-1]["fields"][attributes["name"]] = attributes.get("value", "")


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def post_form(browser: httpx.Client, page: httpx.Response, form: dict[str, Any], **values: str) -> httpx.Response:
    """Submit `form` of `page` as a browser would: its hidden fields, `values`, Origin/Referer-free (no-referrer)."""
    data = {**form["fields"], **values}
    action = urljoin(str(page.url), form["action"] or str(page.url))
    return browser.post(action, data=data, headers={"Origin": f"{page.url.scheme}://{page.url.netloc.decode()}"})


def register_client(
    base_url: str, redirect_uri: str = REDIRECT_URI, name: str = "Test client", **extra: Any
) -> dict[str, Any]:
    body = {
        "client_name": name,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **extra,
    }
    response = httpx.post(f"{base_url}/oauth/register/", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return dict(response.json())


def authorize_url(base_url: str, client_id: str, challenge: str, **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": secrets.token_urlsafe(12),
        "resource": f"{base_url}/mcp",
        "scope": "mcp:read mcp:write",
        **params,
    }
    return f"{base_url}/oauth/authorize/?{urlencode(query)}"


def log_in(
    browser: httpx.Client, base_url: str, email: str, password: str, next_url: str | None = None
) -> httpx.Response:
    """Open the login page (optionally with ?next=) and sign in; returns the response to the POST (a redirect)."""
    page = browser.get(f"{base_url}/accounts/login/" + (f"?{urlencode({'next': next_url})}" if next_url else ""))
    assert page.status_code == 200, page.text
    form = next(f for f in forms_of(page.text) if "password" in f["fields"])
    return post_form(browser, page, form, username=email, password=password)


@dataclass
class Consent:
    page: httpx.Response  # the consent page
    form: dict[str, Any]

    def answer(self, browser: httpx.Client, decision: str) -> httpx.Response:
        return post_form(browser, self.page, self.form, decision=decision)


def open_consent(browser: httpx.Client, url: str, email: str, password: str) -> Consent:
    """Follow an authorization URL through login to the consent page, as a person would."""
    base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
    first = browser.get(url)
    if first.status_code == 302 and urlsplit(first.headers["location"]).path == "/accounts/login/":
        next_url = parse_qs(urlsplit(first.headers["location"]).query)["next"][0]
        after_login = log_in(browser, base, email, password, next_url=next_url)
        assert after_login.status_code == 302, after_login.text
        first = browser.get(urljoin(base, after_login.headers["location"]))
    assert first.status_code == 200, (first.status_code, first.headers.get("location"), first.text[:2000])
    form = next(f for f in forms_of(first.text) if "request_id" in f["fields"])
    return Consent(page=first, form=form)


def approve(browser: httpx.Client, url: str, email: str, password: str) -> dict[str, str]:
    """Log in, allow, and return the parameters of the redirect back to the client (code, state, iss)."""
    response = open_consent(browser, url, email, password).answer(browser, "allow")
    assert response.status_code == 302, response.text[:2000]
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    params = parse_qs(urlsplit(location).query)
    assert all(len(v) == 1 for v in params.values()), params
    return {k: v[0] for k, v in params.items()}


def exchange_code(base_url: str, client_id: str, code: str, verifier: str, **extra: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": client_id,
        "code_verifier": verifier,
        "resource": f"{base_url}/mcp",
        **extra,
    }
    return httpx.post(f"{base_url}/oauth/token/", data=data, timeout=10)


def refresh(base_url: str, client_id: str, refresh_token: str, **extra: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **extra}
    return httpx.post(f"{base_url}/oauth/token/", data=data, timeout=10)


def browser_client() -> httpx.Client:
    return httpx.Client(follow_redirects=False, timeout=15)


CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
