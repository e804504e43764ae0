"""Settings → API keys: organisation admins create, list and revoke keys.

The page calls the same selectors and services as the create_api_key / list_api_keys /
delete_api_key tools, with the signed-in person's Actor; they decide who may do what.
A new key's token exists only in the response to the POST that created it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.errors import InvalidArgument, NotFound, PermissionDenied
from accounts.models import User
from accounts.permissions import Actor
from apikeys.forms import ApiKeyCreateForm
from apikeys.schemas import ApiKeyOut
from apikeys.selectors import access_api_key, api_key_list, api_key_out
from apikeys.services import apikey_create, apikey_revoke
from attention_mcp.web import error_page, see_other, session_actor, strict_page

logger = logging.getLogger(__name__)

LIST_URL = "/settings/api-keys/"
# Form ids of keys already created in this session, so that a resubmitted form shows no second token.
USED_FORM_IDS = "apikeys.used_form_ids"
# Form fields named by the services' InvalidArgument.field.
FIELD_OF_ARGUMENT = {"name": "name", "expiry_hours": "expiry", "user_id": "scope"}


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One key as the page shows it: the tool's output shape, with its times as datetimes."""

    key: ApiKeyOut
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: ApiKeyOut) -> KeyRow:
        return cls(
            key=key,
            created_at=_dt(key.created_at),
            expires_at=_opt_dt(key.expires_at),
            last_used_at=_opt_dt(key.last_used_at),
        )

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _opt_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _admin_actor(request: HttpRequest) -> Actor | None:
    assert isinstance(request.user, User)
    actor = session_actor(request.user)
    return actor if actor is not None and actor.is_admin else None


def _forbidden(request: HttpRequest) -> HttpResponse:
    return error_page(
        request,
        status=403,
        title="Organisation admins only",
        message="Only your organisation's admins can manage API keys. Ask one of them if you need a key.",
    )


def _settings_page(request: HttpRequest, actor: Actor, form: ApiKeyCreateForm, status: int = 200) -> HttpResponse:
    rows = [KeyRow.of(k) for k in api_key_list(actor=actor).api_keys]
    return render(request, "apikeys/settings.html", {"form": form, "rows": rows}, status=status)


def _new_form() -> ApiKeyCreateForm:
    return ApiKeyCreateForm(initial={"form_id": secrets.token_urlsafe(16)})


@strict_page
@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    """GET: the list and the create form. POST: create a key and show its token, this once."""
    actor = _admin_actor(request)
    if actor is None:
        return _forbidden(request)
    if request.method != "POST":
        return _settings_page(request, actor, _new_form())

    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, actor, form, status=400)
    form_id = str(form.cleaned_data["form_id"])
    used: list[str] = list(request.session.get(USED_FORM_IDS, []))
    if form_id and form_id in used:
        messages.info(
            request,
            "That key was already created and its token cannot be shown again. "
            "If you did not store it, revoke the key and create a new one.",
        )
        return see_other(LIST_URL)
    try:
        key, token = apikey_create(
            actor=actor, name=form.cleaned_data["name"], org_level=form.org_level, expiry_hours=form.expiry_hours
        )
    except InvalidArgument as exc:
        form.add_error(FIELD_OF_ARGUMENT.get(exc.field), exc.message)
        return _settings_page(request, actor, form, status=400)
    except PermissionDenied:
        return _forbidden(request)
    if form_id:
        request.session[USED_FORM_IDS] = [*used, form_id][-20:]
    logger.info("api key %s created on the settings page by user %s", key.prefix, actor.user_id)
    # Rendered straight from the POST (never stored anywhere); strict_page adds Cache-Control: no-store.
    return render(request, "apikeys/created.html", {"row": KeyRow.of(api_key_out(key)), "token": token})


@strict_page
@login_required
@require_http_methods(["GET", "POST"])
def api_key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    """GET: ask for confirmation. POST: revoke; the key fails from its very next request on."""
    actor = _admin_actor(request)
    if actor is None:
        return _forbidden(request)
    try:
        if request.method == "POST":
            key = apikey_revoke(actor=actor, api_key_id=key_id)
        else:
            key = access_api_key(actor=actor, api_key_id=key_id)
    except NotFound:
        return error_page(
            request, status=404, title="Key not found", message="There is no such API key in your organisation."
        )
    except PermissionDenied:
        return _forbidden(request)
    if request.method == "POST":
        logger.info("api key %s revoked on the settings page by user %s", key.prefix, actor.user_id)
        messages.success(request, f"The key “{key.name}” ({key.display_prefix}) is revoked. It no longer works.")
        return see_other(LIST_URL)
    return render(request, "apikeys/revoke.html", {"row": KeyRow.of(api_key_out(key)), "revoked": key.revoked_at})
