"""Output shapes of the forecasting tools (they become the tools' outputSchema)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ForecastCategoryOut(BaseModel):
    id: str
    column_key: str = Field(description='Stable key of the column, e.g. "commit"; unique in the organisation')
    label: str = Field(description='What people see, e.g. "Commit"')
    description: str
    column_type: str = Field(
        description="system (built in: only description and include_in_call can change), call (set on calls) "
        "or deal_rollup (rolled up from deals)"
    )
    system: bool = Field(description="True for the built-in columns")
    display_order: int = Field(description="Columns are shown in ascending display_order")
    color: str = Field(description='"#rrggbb", or empty for the default colour')
    include_in_call: bool = Field(description="Offered when people set a forecast category on a call")


class ForecastConfig(BaseModel):
    categories: list[ForecastCategoryOut] = Field(description="The organisation's forecast columns, in display order")
