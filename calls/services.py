"""Writes for the call domain; each checks the Actor before it changes anything."""

from __future__ import annotations

import uuid

from django.db import transaction

from accounts.errors import InvalidArgument, PermissionDenied
from accounts.permissions import Actor
from calls.models import Call
from calls.selectors import access_call


def _require_owner_or_admin(*, actor: Actor, call: Call) -> None:
    if actor.is_admin or call.owner_id == actor.user_id:
        return
    raise PermissionDenied("admin_required", "Only the call's owner or an admin can change this call.")


def call_update(
    *, actor: Actor, call_id: uuid.UUID | str, title: str | None = None, private: bool | None = None
) -> Call:
    """The owner or an admin renames a call or changes its privacy."""
    with transaction.atomic():
        call = access_call(actor=actor, call_id=call_id)
        _require_owner_or_admin(actor=actor, call=call)
        fields = []
        if title is not None:
            title = " ".join(title.split())
            if not title or len(title) > 500:
                raise InvalidArgument("title", "A title must have 1 to 500 characters.")
            call.title = title
            fields.append("title")
        if private is not None:
            call.private = private
            fields.append("private")
        if fields:
            call.save(update_fields=fields)
    return call


def call_archive(*, actor: Actor, call_id: uuid.UUID | str, archived: bool = True) -> Call:
    """The owner or an admin archives (hides from search) or restores a call."""
    call = access_call(actor=actor, call_id=call_id)
    _require_owner_or_admin(actor=actor, call=call)
    call.archived = archived
    call.save(update_fields=["archived"])
    return call
