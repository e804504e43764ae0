"""MCP tools for calls and transcripts."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from accounts.permissions import Actor
from calls.schemas import CallDetails, CallPage, TranscriptPage
from calls.selectors import call_details, call_search, call_transcript_page
from mcpgateway.registry import tool

Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class CrmFieldFilter(BaseModel):
    entity: str = Field(description='CRM object, e.g. "opportunity" or "account"', max_length=64)
    field: str = Field(description='Field name on that object, e.g. "Region"', max_length=64)
    values: list[str] = Field(description='Accepted values, e.g. ["EMEA"]', min_length=1, max_length=10)


@tool(title="Search calls", access="read")
def search_calls(
    actor: Actor,
    query: Annotated[
        str | None,
        Field(description='Words to find in titles and transcripts, e.g. "pricing objection"', max_length=500),
    ] = None,
    from_date: Annotated[date | None, Field(description="Earliest call date, inclusive (YYYY-MM-DD)")] = None,
    to_date: Annotated[date | None, Field(description="Latest call date, inclusive (YYYY-MM-DD)")] = None,
    rep_ids: Annotated[
        list[uuid.UUID] | None, Field(description="Only calls owned by these users", max_length=50)
    ] = None,
    rep_emails: Annotated[
        list[Email] | None, Field(description="Only calls owned by users with these emails", max_length=50)
    ] = None,
    participant_emails: Annotated[
        list[Email] | None,
        Field(description="Only calls where someone with one of these emails took part", max_length=50),
    ] = None,
    team_ids: Annotated[
        list[uuid.UUID] | None, Field(description="Only calls of these teams, sub-teams included", max_length=50)
    ] = None,
    labels: Annotated[
        dict[str, str] | None,
        Field(description='Label category -> option, all must match, e.g. {"Call Type": "Demo"}', max_length=10),
    ] = None,
    deal_id: Annotated[uuid.UUID | None, Field(description="Only calls linked to this deal")] = None,
    crm_field: Annotated[
        CrmFieldFilter | None, Field(description="Only calls whose deal has a CRM field value")
    ] = None,
    hide_internal: Annotated[bool, Field(description="Leave out internal meetings (no external participant)")] = False,
    include_archived: Annotated[bool, Field(description="Also return archived calls")] = False,
    sort: Annotated[
        Literal["date_desc", "date_asc"], Field(description="Newest first (default) or oldest first")
    ] = "date_desc",
    page_size: Annotated[int, Field(ge=1, le=50, description="Calls per page")] = 20,
    cursor: Annotated[str | None, Field(description="next_cursor of the previous page", max_length=500)] = None,
) -> CallPage:
    """Find recorded calls the caller can see, newest first. Combine any filters: text (titles and transcripts),
    dates, reps, participants, teams (sub-teams included), labels, deal or a CRM field. Text queries return the
    matching transcript passages with timestamps and speakers. Use get_call_details for one call's full content.
    Page through results with next_cursor."""
    return call_search(
        actor=actor,
        query=query,
        from_date=from_date,
        to_date=to_date,
        rep_ids=rep_ids,
        rep_emails=rep_emails,
        participant_emails=participant_emails,
        team_ids=team_ids,
        labels=labels,
        deal_id=deal_id,
        crm_field=crm_field.model_dump() if crm_field else None,
        hide_internal=hide_internal,
        include_archived=include_archived,
        sort=sort,
        page_size=page_size,
        cursor=cursor,
    )


@tool(title="Get call details", access="read")
def get_call_details(
    actor: Actor,
    call_id: Annotated[uuid.UUID, Field(description="The call's id, from search_calls")],
    include_transcript: Annotated[bool, Field(description="Include the transcript")] = True,
    transcript_format: Annotated[
        Literal["text", "segments"], Field(description="text: '[mm:ss] Speaker: words' lines; segments: a list")
    ] = "text",
) -> CallDetails:
    """Get everything about one call: participants, summary, action items, next steps, topics, labels, scorecard
    results, deal and the transcript. Very long transcripts are cut (transcript_truncated is then true): read
    them in full with get_call_transcript."""
    return call_details(
        actor=actor, call_id=call_id, include_transcript=include_transcript, transcript_format=transcript_format
    )


@tool(title="Read a call transcript", access="read")
def get_call_transcript(
    actor: Actor,
    call_id: Annotated[uuid.UUID, Field(description="The call's id, from search_calls")],
    page_size: Annotated[int, Field(ge=1, le=500, description="Segments per page")] = 200,
    cursor: Annotated[str | None, Field(description="next_cursor of the previous page", max_length=500)] = None,
) -> TranscriptPage:
    """Read a call's transcript page by page, in order: each segment has its speaker, start and end seconds and
    text. Use this for long calls; get_call_details is simpler for short ones."""
    return call_transcript_page(actor=actor, call_id=call_id, page_size=page_size, cursor=cursor)
