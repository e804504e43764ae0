"""What every server-rendered page shares: strict security headers, the session Actor, plain error pages.

Pages are only ever our own templates, CSS and scripts (no inline code, nothing third-party),
so the Content-Security-Policy can forbid everything else. Wrap each page view::

    @strict_page
    @login_required
    def my_page(request): ...

A page whose form posts to, or redirects after the POST to, another origin (the OAuth consent
page: Chrome applies `form-action` to the redirect that follows the submit) names it::

    @strict_page_headers(form_action=("'self'", "https://client.example"))

and a page whose extra origin is known only per request sets the headers itself with
`apply_strict_page_headers(response, form_action=("'self'", form_action_source(redirect_uri)))`;
the decorator then leaves the Content-Security-Policy that view set.

Referrer-Policy is `same-origin`, not `no-referrer`: under `no-referrer` Chrome sends `Origin: null`
with every form POST (Fetch: "serializing a request origin"), and Django's CSRF check rightly
refuses that origin, so no form on such a page (sign in, sign out, consent) could be submitted.
`same-origin` sends no Referer to any other origin either, which is what the policy is for: the
page's URL (an authorize request's state, client and PKCE challenge) never leaves this site.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject

from accounts.errors import NotFound
from accounts.models import User
from accounts.permissions import ALL_SCOPES, Actor
from accounts.selectors import actor_for_user

P = ParamSpec("P")
R = TypeVar("R", bound=HttpResponseBase)

SELF = "'self'"
CSP_HEADER = "Content-Security-Policy"
REFERRER_POLICY = "same-origin"
# Policies that send nothing to other origins (see the module docstring for why not no-referrer by default).
_PRIVATE_REFERRER_POLICIES = frozenset({"same-origin", "no-referrer"})

# A CSP source expression we are willing to emit: a keyword ('self'), a scheme ("https:"), or an
# origin ("https://host:port"). Nothing that could end the directive (";", ",") or the header.
_SOURCE = re.compile(
    r"'self'"
    r"|[a-z][a-z0-9+.-]*:"  # a scheme
    r"|https?://(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?"  # an origin
)


def content_security_policy(*, form_action: Sequence[str] = (SELF,)) -> str:
    """The pages' policy: our own styles and scripts only, no framing, forms post only to `form_action`."""
    sources = tuple(form_action)
    if not sources:
        raise ValueError("form_action needs at least one source")
    for source in sources:
        if not _SOURCE.fullmatch(source):
            raise ValueError(f"not an allowed CSP source: {source!r}")
    return (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        f"form-action {' '.join(sources)}; frame-ancestors 'none'; base-uri 'none'"
    )


def form_action_source(url: str) -> str:
    """The CSP source that lets a form (or the redirect after it) go to `url`.

    http(s) URLs give their origin ("http://127.0.0.1:33418"); other schemes (native apps'
    "com.example.app:/cb") give the scheme alone ("com.example.app:"). Raises ValueError for
    anything that is not a clean absolute URL.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in {"http", "https"}:
        if not parts.hostname:
            raise ValueError("URL has no host")
        host = parts.hostname.lower()
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        source = f"{scheme}://{host}" + (f":{parts.port}" if parts.port is not None else "")
    else:
        source = f"{scheme}:"
    if not _SOURCE.fullmatch(source) or source in {"javascript:", "data:", "file:", "blob:", "filesystem:"}:
        raise ValueError(f"not a usable form-action target: {url!r}")
    return source


def apply_strict_page_headers(
    response: HttpResponseBase, *, form_action: Sequence[str] = (SELF,), referrer_policy: str = REFERRER_POLICY
) -> None:
    """Set the pages' security headers on `response` (see the module docstring)."""
    response[CSP_HEADER] = content_security_policy(form_action=form_action)
    _apply_fixed_headers(response, _checked_referrer_policy(referrer_policy))


def _checked_referrer_policy(policy: str) -> str:
    if policy not in _PRIVATE_REFERRER_POLICIES:
        raise ValueError(f"Referrer-Policy must be one of {sorted(_PRIVATE_REFERRER_POLICIES)}")
    return policy


def _apply_fixed_headers(response: HttpResponseBase, referrer_policy: str) -> None:
    response["X-Frame-Options"] = "DENY"
    response["Referrer-Policy"] = _checked_referrer_policy(referrer_policy)
    # Pages show who is signed in, and one shows a new API key: never cached anywhere.
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"


def strict_page_headers(
    *, form_action: Sequence[str] = (SELF,), referrer_policy: str = REFERRER_POLICY
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A view decorator setting the pages' security headers, with `form_action` as the allowed form targets.

    `referrer_policy="no-referrer"` suits only a page without same-origin POST forms (see the module docstring).
    """
    # Both validated once, when the view module is imported.
    policy = content_security_policy(form_action=form_action)
    referrer = _checked_referrer_policy(referrer_policy)

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            response = view(*args, **kwargs)
            # A view that called apply_strict_page_headers() itself keeps its policies.
            if CSP_HEADER not in response:
                response[CSP_HEADER] = policy
            _apply_fixed_headers(response, response.get("Referrer-Policy", referrer))
            return response

        return wrapped

    return decorator


def strict_page(view: Callable[P, R]) -> Callable[P, R]:
    """`strict_page_headers()` with the default policy: forms post to this site only."""
    return strict_page_headers()(view)


def session_actor(user: User) -> Actor | None:
    """The Actor of a signed-in person on the web pages, or None for someone outside any organisation."""
    if not user.is_authenticated or user.org_id is None:
        return None
    try:
        return actor_for_user(user=user, via="session", scopes=ALL_SCOPES)
    except NotFound:
        return None


def nav(request: HttpRequest) -> dict[str, Any]:
    """Context processor: what the header's navigation shows (the API-keys link for organisation admins only)."""

    def org_admin() -> bool:
        user = getattr(request, "user", None)
        actor = session_actor(user) if isinstance(user, User) else None
        return actor is not None and actor.is_admin

    # Lazy: templates that never show the navigation (the operators' admin) cost no query.
    return {"nav_org_admin": SimpleLazyObject(org_admin)}


def see_other(url: str) -> HttpResponseRedirect:
    """303 See Other: what a page answers to a successful POST (never 307, which would repeat the POST)."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def error_page(request: HttpRequest, *, status: int, title: str, message: str) -> HttpResponse:
    """A plain error page in the site's layout (wrap the calling view with strict_page)."""
    return render(request, "error.html", {"title": title, "message": message}, status=status)
