"""MCP tools for deals and the usage report; each is one call to a selector in deals/selectors.py."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import Field

from accounts.permissions import Actor
from deals.schemas import DealDetail, DealPage, UsageReport
from deals.selectors import deal_detail, deals_page, usage_report
from mcpgateway.registry import tool

PageSize = Annotated[int, Field(ge=1, le=50, description="Items per page")]
Cursor = Annotated[str | None, Field(description="next_cursor of the previous page", max_length=500)]


@tool(title="List deals", access="read")
def list_deals(
    actor: Actor,
    query: Annotated[
        str | None,
        Field(description='Case-insensitive part of the deal name or CRM id, e.g. "globex" or "006A1"', max_length=200),
    ] = None,
    owner_id: Annotated[
        uuid.UUID | None, Field(description="Only deals owned by this user (id from list_reps)")
    ] = None,
    stage: Annotated[
        str | None, Field(description='Only deals in this CRM stage, any case, e.g. "Negotiation"', max_length=64)
    ] = None,
    page_size: PageSize = 20,
    cursor: Cursor = None,
) -> DealPage:
    """List the organisation's deals (CRM opportunities) by name, with stage, amount, owner and CRM id.

    Every member of the organisation sees every deal, but call_count and last_call_at only count the calls
    linked to the deal that the caller can see (archived calls not counted). Filter by name or CRM id text,
    owner or stage. Use get_deal for one deal with its calls, or search_calls with deal_id to search inside
    them. Page through with next_cursor."""
    return deals_page(actor=actor, query=query, owner_id=owner_id, stage=stage, page_size=page_size, cursor=cursor)


@tool(title="Get a deal", access="read")
def get_deal(
    actor: Actor,
    deal_id: Annotated[uuid.UUID, Field(description="The deal's id, from list_deals or a call's deal")],
    page_size: Annotated[int, Field(ge=1, le=50, description="Calls per page")] = 20,
    cursor: Annotated[
        str | None, Field(description="next_cursor of the previous get_deal page", max_length=500)
    ] = None,
) -> DealDetail:
    """Get one deal: stage, amount, owner, CRM id and CRM fields, plus its calls that the caller can see,
    newest first, in the same shape as search_calls (participants, labels, url). Calls hidden from the caller
    are neither listed nor counted. Page through the calls with next_cursor; use get_call_details for a
    call's content or ask_attention with deal_id to ask questions across the deal's calls."""
    return deal_detail(actor=actor, deal_id=deal_id, page_size=page_size, cursor=cursor)


@tool(title="Usage report", access="read")
def get_usage_report(
    actor: Actor,
    from_date: Annotated[
        date | None, Field(description="First day, inclusive (YYYY-MM-DD, UTC); default 29 days before to_date")
    ] = None,
    to_date: Annotated[date | None, Field(description="Last day, inclusive (YYYY-MM-DD, UTC); default today")] = None,
    team_id: Annotated[
        uuid.UUID | None,
        Field(description="Only calls recorded under this team or its sub-teams (id from list_teams)"),
    ] = None,
    page_size: Annotated[int, Field(ge=1, le=50, description="Reps per page")] = 20,
    cursor: Cursor = None,
) -> UsageReport:
    """Report how many calls each rep recorded and for how many minutes over a date range (default: the last
    30 days, at most 366 days), with totals; for managers and admins only (others get admin_required).

    Counts only calls the caller can see: a manager gets his teams' and sub-teams' reps (plus calls he took
    part in); admins and org-level keys the whole organisation. Archived calls count (they were recorded);
    people with no counted call are not listed. team_id works like search_calls' team_ids, so
    search_calls with the same dates and team lists the counted calls (add include_archived=true).
    Reps are sorted by calls, then minutes; totals cover all pages. Page through with next_cursor."""
    return usage_report(
        actor=actor, from_date=from_date, to_date=to_date, team_id=team_id, page_size=page_size, cursor=cursor
    )
