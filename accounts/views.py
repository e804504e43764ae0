"""Signing in and out of the web pages, and the account's home page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.forms import LoginForm
from accounts.models import RoleType, User
from accounts.selectors import me
from attention_mcp.web import session_actor, strict_page


class SignInView(LoginView):
    """Django's LoginView does what matters: CSRF, the session key rotated on login, `next` followed only
    when url_has_allowed_host_and_scheme() accepts it (else LOGIN_REDIRECT_URL). The operators' admin
    keeps its own /admin/login/."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_redirect_url(self, *args: Any, **kwargs: Any) -> str:  # (django-stubs and Django disagree on arguments)
        # `next` pointing back at this page would make Django's already-signed-in redirect raise (a 500).
        url = super().get_redirect_url(*args, **kwargs)
        return "" if url and urlsplit(url).path == self.request.path else url


login_view = strict_page(SignInView.as_view())
# POST only (Django's LogoutView refuses GET with 405), with CSRF.
logout_view = strict_page(LogoutView.as_view(next_page="/accounts/login/"))


@strict_page
@login_required
def account_home(request: HttpRequest) -> HttpResponse:
    """Who is signed in, and links to the pages they may use."""
    assert isinstance(request.user, User)
    actor = session_actor(request.user)
    if actor is None:
        return render(request, "accounts/home.html", {"me": None})
    return render(
        request,
        "accounts/home.html",
        {
            "me": me(actor=actor),
            "role_labels": [RoleType(r).label for r in sorted(actor.roles)],
            "is_org_admin": actor.is_admin,
        },
    )
