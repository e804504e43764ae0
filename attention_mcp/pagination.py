"""Opaque cursors for keyset pagination.

A cursor only says where the previous page ended inside the caller's own
visible set, so it needs no signature; it is validated on the way in and a
malformed one is an invalid_argument, never a 500.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

from accounts.errors import InvalidArgument


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, kind: str) -> dict[str, Any] | None:
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (ValueError, TypeError):
        raise InvalidArgument("cursor", "The cursor is not one this server issued.") from None
    if not isinstance(data, dict) or data.get("k") != kind:
        raise InvalidArgument("cursor", "The cursor belongs to a different listing.")
    return data


def decode_time_id_cursor(cursor: str | None, *, kind: str, time_key: str) -> tuple[datetime, uuid.UUID] | None:
    """The (aware timestamp, id) position of a keyset cursor whose time sits under `time_key` and id under "i"."""
    position = decode_cursor(cursor, kind=kind)
    if position is None:
        return None
    at_raw, id_raw = position.get(time_key), position.get("i")
    try:
        if not isinstance(at_raw, str) or not isinstance(id_raw, str):
            raise ValueError
        at, after_id = datetime.fromisoformat(at_raw), uuid.UUID(id_raw)
        if at.tzinfo is None:
            raise ValueError
    except ValueError:
        raise InvalidArgument("cursor", "The cursor is not one this server issued.") from None
    return at, after_id


def decode_text_id_cursor(cursor: str | None, *, kind: str, text_key: str) -> tuple[str, uuid.UUID] | None:
    """The (text, id) position of a keyset cursor over a listing ordered by a text column (a name, a title)."""
    position = decode_cursor(cursor, kind=kind)
    if position is None:
        return None
    text, id_raw = position.get(text_key), position.get("i")
    try:
        if not isinstance(text, str) or not isinstance(id_raw, str):
            raise ValueError
        after_id = uuid.UUID(id_raw)
    except ValueError:
        raise InvalidArgument("cursor", "The cursor is not one this server issued.") from None
    return text, after_id
