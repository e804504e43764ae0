"""MCP tools for the forecast configuration; each is one call to a service in forecasting/services.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from accounts.permissions import Actor
from forecasting.schemas import ForecastCategoryOut, ForecastConfig
from forecasting.selectors import forecast_category_out
from forecasting.services import forecast_category_create, forecast_category_update, forecast_config_get
from mcpgateway.registry import tool

SLUG = r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$"
HEX_COLOR = r"^(#[0-9a-fA-F]{6})?$"


@tool(title="Get the forecast configuration", access="read")
def get_forecast_config(actor: Actor) -> ForecastConfig:
    """List the organisation's forecast categories (the columns of the forecast board, e.g. Commit, Best Case,
    Pipeline) in display order, with their ids, keys, types, colours and whether they are offered on calls.
    Use the ids with update_forecast_category. The built-in system columns are always present."""
    return forecast_config_get(actor=actor)


@tool(title="Create a forecast category", access="write", admin=True)
def create_forecast_category(
    actor: Actor,
    column_key: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            pattern=SLUG,
            description='Stable lower-case key, unique in the organisation, e.g. "upside" or "at_risk"',
        ),
    ],
    label: Annotated[str, Field(min_length=1, max_length=100, description='Name people see, e.g. "Upside"')],
    description: Annotated[
        str, Field(max_length=1000, description='What belongs in it, e.g. "Flagged on a call as possible upside."')
    ] = "",
    column_type: Annotated[
        Literal["call", "deal_rollup"],
        Field(description="call: set on calls; deal_rollup: rolled up from deals. System columns are built in"),
    ] = "call",
    display_order: Annotated[
        int | None, Field(ge=0, le=10_000, description="Position among the columns (ascending); omit to add it last")
    ] = None,
    color: Annotated[
        str, Field(max_length=7, pattern=HEX_COLOR, description='Colour as "#rrggbb", e.g. "#6a1b9a"; empty = default')
    ] = "",
    include_in_call: Annotated[
        bool, Field(description="Offer it when people set a forecast category on a call")
    ] = True,
) -> ForecastCategoryOut:
    """Add a forecast category (a column of the forecast board) to the organisation (admins only). Its
    column_key must not be in use yet (conflict otherwise, including the built-in keys commit, best_case,
    pipeline, closed_won). System columns cannot be created. Change an existing column with
    update_forecast_category."""
    category = forecast_category_create(
        actor=actor,
        column_key=column_key,
        label=label,
        description=description,
        column_type=column_type,
        display_order=display_order,
        color=color,
        include_in_call=include_in_call,
    )
    return forecast_category_out(category)


@tool(title="Update a forecast category", access="write", admin=True, idempotent=True)
def update_forecast_category(
    actor: Actor,
    category_id: Annotated[uuid.UUID, Field(description="The category's id, from get_forecast_config")],
    column_key: Annotated[
        str | None,
        Field(min_length=1, max_length=64, pattern=SLUG, description='New key, e.g. "at_risk"; omit to keep it'),
    ] = None,
    label: Annotated[str | None, Field(min_length=1, max_length=100, description="New name; omit to keep it")] = None,
    description: Annotated[
        str | None, Field(max_length=1000, description='New description ("" clears it); omit to keep it')
    ] = None,
    column_type: Annotated[
        Literal["system", "call", "deal_rollup"] | None,
        Field(description="call or deal_rollup (a column cannot become system); omit to keep it"),
    ] = None,
    display_order: Annotated[
        int | None, Field(ge=0, le=10_000, description="New position (ascending); omit to keep it")
    ] = None,
    color: Annotated[
        str | None,
        Field(max_length=7, pattern=HEX_COLOR, description='New colour "#rrggbb" ("" = default); omit to keep it'),
    ] = None,
    include_in_call: Annotated[bool | None, Field(description="Offer it on calls or not; omit to keep it")] = None,
) -> ForecastCategoryOut:
    """Change a forecast category (admins only); omitted fields are kept. System columns (system=true in
    get_forecast_config) only accept description and include_in_call: changing any other field of one is
    refused with invalid_argument naming that field (sending its current value back is fine). A new
    column_key must not be in use (conflict)."""
    category = forecast_category_update(
        actor=actor,
        category_id=category_id,
        column_key=column_key,
        label=label,
        description=description,
        column_type=column_type,
        display_order=display_order,
        color=color,
        include_in_call=include_in_call,
    )
    return forecast_category_out(category)
