"""Reads for the forecast configuration: the organisation's forecast categories (columns)."""

from __future__ import annotations

import uuid

from accounts.errors import NotFound, parse_id
from accounts.permissions import Actor
from calls.models import ForecastCategory
from forecasting.schemas import ForecastCategoryOut, ForecastConfig


def access_forecast_category(*, actor: Actor, category_id: uuid.UUID | str) -> ForecastCategory:
    """One forecast category of the actor's organisation; NotFound alike for missing and another org's."""
    category = ForecastCategory.objects.filter(
        org_id=actor.org_id, pk=parse_id("forecast category", category_id)
    ).first()
    if category is None:
        raise NotFound("forecast category", category_id)
    return category


def forecast_category_out(category: ForecastCategory) -> ForecastCategoryOut:
    return ForecastCategoryOut(
        id=str(category.pk),
        column_key=category.column_key,
        label=category.label,
        description=category.description,
        column_type=category.column_type,
        system=category.is_system,
        display_order=category.display_order,
        color=category.color,
        include_in_call=category.include_in_call,
    )


def forecast_config(*, actor: Actor) -> ForecastConfig:
    """The organisation's forecast categories in display order (every member may read them)."""
    categories = ForecastCategory.objects.filter(org_id=actor.org_id).order_by("display_order", "label", "id")
    return ForecastConfig(categories=[forecast_category_out(c) for c in categories])
