"""Writes for the forecast configuration; each takes the acting `Actor` first and checks it.

Every organisation has built-in ("system") forecast columns. Organisations created before this
module, or by code that does not call `forecast_defaults_ensure`, get them the first time their
configuration is read or extended, so no organisation is ever without them.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from django.db import IntegrityError, transaction
from django.db.models import Max

from accounts.errors import Conflict, InvalidArgument
from accounts.permissions import Actor
from calls.models import ForecastCategory, ForecastColumnType
from forecasting.schemas import ForecastConfig
from forecasting.selectors import access_forecast_category, forecast_config

# (column_key, label, description, colour), shown in this order; the demo seed uses the same first three.
DEFAULT_SYSTEM_CATEGORIES: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("commit", "Commit", "Deals the rep is confident will close this period.", "#2e7d32"),
    ("best_case", "Best Case", "Could close this period if things go well.", "#f9a825"),
    ("pipeline", "Pipeline", "Qualified, not expected this period.", "#1565c0"),
    ("closed_won", "Closed Won", "Won this period.", "#37474f"),
)
CALLER_COLUMN_TYPES: Final[frozenset[str]] = frozenset({ForecastColumnType.CALL, ForecastColumnType.DEAL_ROLLUP})
COLUMN_KEY = re.compile(r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_LABEL = 100
MAX_DESCRIPTION = 1000
MAX_DISPLAY_ORDER = 10_000
# What a system category lets callers change; everything else about it is built in.
SYSTEM_EDITABLE: Final[frozenset[str]] = frozenset({"description", "include_in_call"})


def forecast_defaults_ensure(*, org_id: uuid.UUID) -> None:
    """Give an organisation the built-in columns unless it has some already. System-level and idempotent.

    Concurrent first reads are safe: the unique (org, column_key) constraint keeps one row per key.
    """
    if ForecastCategory.objects.filter(org_id=org_id, column_type=ForecastColumnType.SYSTEM).exists():
        return
    ForecastCategory.objects.bulk_create(
        [
            ForecastCategory(
                org_id=org_id,
                column_key=key,
                label=label,
                description=description,
                column_type=ForecastColumnType.SYSTEM,
                display_order=order,
                color=color,
            )
            for order, (key, label, description, color) in enumerate(DEFAULT_SYSTEM_CATEGORIES, start=1)
        ],
        ignore_conflicts=True,
    )


def forecast_config_get(*, actor: Actor) -> ForecastConfig:
    """Any member reads the organisation's forecast columns; the built-in ones are created first if missing."""
    forecast_defaults_ensure(org_id=actor.org_id)
    return forecast_config(actor=actor)


def _column_key(value: str) -> str:
    if not COLUMN_KEY.match(value) or len(value) > 64:
        raise InvalidArgument(
            "column_key", "column_key is a lower-case slug of letters, digits, _ and - (at most 64), e.g. upside."
        )
    return value


def _label(value: str) -> str:
    label = " ".join(value.split())
    if not label or len(label) > MAX_LABEL:
        raise InvalidArgument("label", f"A label must have 1 to {MAX_LABEL} characters.")
    return label


def _description(value: str) -> str:
    description = value.strip()
    if len(description) > MAX_DESCRIPTION:
        raise InvalidArgument("description", f"A description has at most {MAX_DESCRIPTION} characters.")
    return description


def _column_type(value: str) -> str:
    if value == ForecastColumnType.SYSTEM:
        raise InvalidArgument(
            "column_type", "System categories are built in and cannot be created; use call or deal_rollup."
        )
    if value not in CALLER_COLUMN_TYPES:
        raise InvalidArgument("column_type", "column_type must be call or deal_rollup.")
    return value


def _display_order(value: int) -> int:
    if not 0 <= value <= MAX_DISPLAY_ORDER:
        raise InvalidArgument("display_order", f"display_order must be between 0 and {MAX_DISPLAY_ORDER}.")
    return value


def _color(value: str) -> str:
    if value == "":
        return value
    if not COLOR.match(value):
        raise InvalidArgument("color", 'color must be "#rrggbb", e.g. "#6a1b9a" (or empty for the default).')
    return value.lower()


def _key_taken(column_key: str) -> Conflict:
    return Conflict(f"A forecast category with column_key {column_key!r} already exists.", field="column_key")


def forecast_category_create(
    *,
    actor: Actor,
    column_key: str,
    label: str,
    description: str = "",
    column_type: str = ForecastColumnType.CALL,
    display_order: int | None = None,
    color: str = "",
    include_in_call: bool = True,
) -> ForecastCategory:
    """Admins add a call or deal_rollup column; its column_key must be new in the organisation (Conflict).

    Without a display_order the column goes after the last one.
    """
    actor.require_admin()
    key = _column_key(column_key)
    clean_label = _label(label)
    clean_description = _description(description)
    kind = _column_type(column_type)
    order = _display_order(display_order) if display_order is not None else None
    clean_color = _color(color)
    with transaction.atomic():
        forecast_defaults_ensure(org_id=actor.org_id)
        existing = ForecastCategory.objects.filter(org_id=actor.org_id)
        if existing.filter(column_key=key).exists():
            raise _key_taken(key)
        if order is None:
            last = existing.aggregate(last=Max("display_order"))["last"]
            order = min(MAX_DISPLAY_ORDER, (last or 0) + 1)
        try:
            # A savepoint: a concurrent create of the same key loses on the unique constraint, not with a 500.
            with transaction.atomic():
                return ForecastCategory.objects.create(
                    org_id=actor.org_id,
                    column_key=key,
                    label=clean_label,
                    description=clean_description,
                    column_type=kind,
                    display_order=order,
                    color=clean_color,
                    include_in_call=include_in_call,
                )
        except IntegrityError:
            raise _key_taken(key) from None


def forecast_category_update(
    *,
    actor: Actor,
    category_id: uuid.UUID | str,
    column_key: str | None = None,
    label: str | None = None,
    description: str | None = None,
    column_type: str | None = None,
    display_order: int | None = None,
    color: str | None = None,
    include_in_call: bool | None = None,
) -> ForecastCategory:
    """Admins change a column; None keeps a field. System columns accept only description and include_in_call.

    Sending a system column's current value back for another field is accepted (nothing changes), so a
    client may echo the whole category; a different value is InvalidArgument naming that field.
    """
    actor.require_admin()
    with transaction.atomic():
        category = access_forecast_category(actor=actor, category_id=category_id)
        category = ForecastCategory.objects.select_for_update().get(pk=category.pk)
        wanted: dict[str, object] = {}
        if column_key is not None:
            wanted["column_key"] = _column_key(column_key)
        if label is not None:
            wanted["label"] = _label(label)
        if description is not None:
            wanted["description"] = _description(description)
        if column_type is not None:
            wanted["column_type"] = column_type if category.is_system else _column_type(column_type)
        if display_order is not None:
            wanted["display_order"] = _display_order(display_order)
        if color is not None:
            wanted["color"] = _color(color)
        if include_in_call is not None:
            wanted["include_in_call"] = include_in_call
        changed = {name: value for name, value in wanted.items() if getattr(category, name) != value}
        if category.is_system:
            refused = sorted(set(changed) - SYSTEM_EDITABLE)
            if refused:
                raise InvalidArgument(
                    refused[0],
                    f"{category.label} is a system category: only description and include_in_call can change, "
                    f"not {', '.join(refused)}.",
                )
        new_key = changed.get("column_key")
        if new_key is not None:
            taken = ForecastCategory.objects.filter(org_id=category.org_id, column_key=new_key)
            if taken.exclude(pk=category.pk).exists():
                raise _key_taken(str(new_key))
        if changed:
            for name, value in changed.items():
                setattr(category, name, value)
            try:
                with transaction.atomic():
                    category.save(update_fields=list(changed))
            except IntegrityError:
                raise _key_taken(str(new_key)) from None
    return category
