"""Output shapes of the deal and report tools (they become the tools' outputSchema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from calls.schemas import CallSummary, PersonRef, Ref


class DealOut(BaseModel):
    id: str
    name: str
    stage: str = Field(description='The CRM stage, e.g. "Negotiation"; empty when unknown')
    amount: str | None = Field(description='Deal value as an exact decimal string, e.g. "48000.00"; null when unknown')
    owner: PersonRef | None = Field(description="The deal's owner; null when unassigned")
    crm_id: str = Field(description="The deal's id in the CRM; empty when not synced")
    call_count: int = Field(description="Calls linked to the deal that the caller can see (archived calls not counted)")
    last_call_at: str | None = Field(description="Start of the most recent of those calls; null when there is none")
    url: str


class DealPage(BaseModel):
    deals: list[DealOut]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class DealDetail(DealOut):
    crm_fields: dict[str, Any] = Field(
        description='CRM fields by object, e.g. {"opportunity": {"Region": "EMEA"}, "account": {"Industry": "Retail"}}'
    )
    created_at: str
    calls: list[CallSummary] = Field(description="One page of the deal's calls the caller can see, newest first")
    next_cursor: str | None = Field(description="Pass as cursor to get the next page of calls; null on the last page.")


class UsageTotals(BaseModel):
    calls: int
    external_calls: int = Field(description="Calls with at least one external participant (not internal meetings)")
    duration_s: int = Field(description="Total recorded seconds")
    minutes: float = Field(description="Total recorded minutes, rounded to 0.1")
    reps: int = Field(description="People who own at least one counted call")


class RepUsage(BaseModel):
    rep: PersonRef
    calls: int
    external_calls: int = Field(description="Calls with at least one external participant (not internal meetings)")
    duration_s: int = Field(description="Recorded seconds")
    minutes: float = Field(description="Recorded minutes, rounded to 0.1")


class UsageReport(BaseModel):
    from_date: str = Field(description="First day counted (YYYY-MM-DD, UTC)")
    to_date: str = Field(description="Last day counted, inclusive (YYYY-MM-DD, UTC)")
    team: Ref | None = Field(description="The team the report is limited to (sub-teams included); null for all")
    totals: UsageTotals = Field(description="Over every counted call, not only this page of reps")
    reps: list[RepUsage] = Field(description="One row per call owner, most calls first")
    next_cursor: str | None = Field(description="Pass as cursor (same filters) for more reps; null on the last page.")
