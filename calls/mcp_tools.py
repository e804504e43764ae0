"""MCP tools for calls and transcripts, call labels, label categories and snippets."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from accounts.permissions import Actor
from calls.schemas import (
    CallDetails,
    CallLabels,
    CallPage,
    CallSummary,
    LabelDeleted,
    LabelOut,
    LabelPage,
    LabelUpdated,
    SnippetDeleted,
    SnippetOut,
    SnippetPage,
    TranscriptPage,
)
from calls.selectors import (
    call_details,
    call_labels,
    call_search,
    call_summary,
    call_transcript_page,
    label_detail,
    labels_page,
    snippet_detail,
    snippets_page,
)
from calls.services import (
    OptionSpec,
    call_archive,
    call_labels_change,
    call_update,
    label_create,
    label_delete,
    label_update,
    snippet_create,
    snippet_delete,
)
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
        Field(
            description="Full text over titles and transcripts, web search syntax: words (all must appear; "
            'stemmed, so "priced" finds "pricing"), "an exact phrase" in double quotes, or between alternatives, '
            '-word or -"a phrase" to exclude. Very common words (the, and, of) are ignored. '
            'Examples: Gongly pricing;  "security review" -renewal;  Gongly or Revvio',
            max_length=500,
        ),
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
        Literal["relevance", "date_desc", "date_asc"] | None,
        Field(
            description="relevance: best matches first (the default when query has words); date_desc: newest "
            "first (the default without a query); date_asc: oldest first"
        ),
    ] = None,
    page_size: Annotated[int, Field(ge=1, le=50, description="Calls per page")] = 20,
    cursor: Annotated[str | None, Field(description="next_cursor of the previous page", max_length=500)] = None,
) -> CallPage:
    """Find recorded calls the caller can see. Combine any filters: full text (titles and transcripts), dates,
    reps, participants, teams (sub-teams included), labels, deal or a CRM field. With a text query, results come
    best match first: a match in the title outranks mentions in the transcript, and more mentions rank higher
    (for words found in very many calls, the 500 most recent matching calls are ranked, and older matches follow
    newest first); sort=date_desc lists them newest first instead. Each call then carries up to 3 matching
    transcript passages with their start second and speaker, matched words in **bold**. Without a query, calls
    come newest first. Use get_call_details for one call's full content. Page through results with next_cursor
    (keep the same arguments)."""
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


# --- call writes -------------------------------------------------------------------------------------------------

PageSize = Annotated[int, Field(ge=1, le=50, description="Items per page")]
Cursor = Annotated[str | None, Field(description="next_cursor of the previous page", max_length=500)]
CallId = Annotated[uuid.UUID, Field(description="The call's id, from search_calls")]


@tool(title="Rename a call or change its privacy", access="write", idempotent=True)
def update_call(
    actor: Actor,
    call_id: CallId,
    title: Annotated[
        str | None,
        Field(min_length=1, max_length=500, description='New title, e.g. "Globex pricing review"; omit to keep it'),
    ] = None,
    private: Annotated[
        bool | None,
        Field(description="true: only the owner, its internal participants and admins see the call; omit to keep it"),
    ] = None,
) -> CallSummary:
    """Rename a call and/or make it private or public again. Only the call's owner or an admin may (others get
    admin_required). Give at least one of title and private; omitted fields are kept. Returns the call as
    search_calls shows it. To hide a call from search without restricting who sees it, use archive_call."""
    call = call_update(actor=actor, call_id=call_id, title=title, private=private)
    return call_summary(actor=actor, call_id=call.pk)


@tool(title="Archive or restore a call", access="write", idempotent=True)
def archive_call(
    actor: Actor,
    call_id: CallId,
    archived: Annotated[bool, Field(description="true archives the call, false restores it")] = True,
) -> CallSummary:
    """Archive a call, or restore it with archived=false. Only the call's owner or an admin may (others get
    admin_required). Reversible: an archived call keeps everything and stays readable by id, it is only left out of
    search_calls unless include_archived is true. Use update_call with private=true to restrict who sees it."""
    call = call_archive(actor=actor, call_id=call_id, archived=archived)
    return call_summary(actor=actor, call_id=call.pk)


LabelKey = Annotated[str, Field(min_length=1, max_length=100)]
OptionValue = Annotated[str, Field(min_length=1, max_length=100)]


@tool(title="Set or clear a call's labels", access="write", idempotent=True)
def change_conversation_labels(
    actor: Actor,
    conversation_id: Annotated[uuid.UUID, Field(description="The call's id, from search_calls")],
    labels: Annotated[
        dict[LabelKey, OptionValue | None],
        Field(
            min_length=1,
            max_length=20,
            description="Label category (its name or id, from list_labels) -> option value, or null to clear it, "
            'e.g. {"Call Type": "Demo", "Competitor": null}',
        ),
    ],
) -> CallLabels:
    """Set or clear labels on one call the caller can see (a call has at most one option per label category; setting
    a category replaces its option). Name each category by its name (any case) or id, and each option by its value
    (any case); list_labels shows both. A category limited to teams can only be set on calls of those teams. All or
    nothing: if any entry is refused, no label changes. Returns every label the call carries afterwards."""
    call = call_labels_change(actor=actor, call_id=conversation_id, labels=labels)
    return call_labels(actor=actor, call_id=call.pk)


# --- label categories --------------------------------------------------------------------------------------------


class OptionIn(BaseModel):
    # A misspelt key must not vanish silently (the top-level arguments are refused the same way).
    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=100, description='The option, e.g. "Discovery"')
    description: str = Field(
        default="", max_length=1000, description="When the option applies (guides people and the AI)"
    )


def _option_specs(options: list[OptionIn] | None) -> list[OptionSpec] | None:
    return None if options is None else [OptionSpec(value=o.value, description=o.description) for o in options]


LabelId = Annotated[uuid.UUID, Field(description="The label category's id, from list_labels")]
TeamIds = Annotated[
    list[uuid.UUID] | None,
    Field(max_length=50, description="Limit the label to calls of these teams (ids from list_teams)"),
]


@tool(title="List label categories", access="read")
def list_labels(
    actor: Actor,
    team_id: Annotated[
        uuid.UUID | None, Field(description="Only labels that apply to this team's calls (all-teams labels included)")
    ] = None,
    label: Annotated[
        str | None, Field(max_length=100, description='Part of the label\'s name, any case, e.g. "type"')
    ] = None,
    ai_flow: Annotated[
        bool | None, Field(description="true: only labels the AI applies; false: only labels people apply")
    ] = None,
    page_size: PageSize = 20,
    cursor: Cursor = None,
) -> LabelPage:
    """List the organisation's label categories (e.g. "Call Type") by name, each with its options (e.g. Discovery,
    Demo), description, whether the AI applies it, and the teams it is limited to. Use the names and option values
    with search_calls' labels filter and change_conversation_labels. Page through with next_cursor."""
    return labels_page(actor=actor, team_id=team_id, label=label, ai_flow=ai_flow, page_size=page_size, cursor=cursor)


@tool(title="Create a label category", access="write", admin=True)
def create_label(
    actor: Actor,
    label: Annotated[
        str,
        Field(min_length=1, max_length=100, description='The category\'s name, unique in the org, e.g. "Call Type"'),
    ],
    options: Annotated[
        list[OptionIn],
        Field(
            min_length=1,
            max_length=50,
            description='The options, in display order; values unique ignoring case, e.g. [{"value": "Discovery"}]',
        ),
    ],
    description: Annotated[str, Field(max_length=2000, description="What the label is for")] = "",
    ai_flow: Annotated[bool, Field(description="Let the AI apply it to new calls automatically")] = True,
    all_teams: Annotated[
        bool | None,
        Field(description="Applies to every team's calls; defaults to true without team_ids and false with them"),
    ] = None,
    team_ids: TeamIds = None,
) -> LabelOut:
    """Create a label category with its options (admins only), for all teams or limited to some teams (give
    team_ids). Names are unique in the organisation, ignoring case (conflict otherwise). To change an existing
    label use update_label."""
    created = label_create(
        actor=actor,
        name=label,
        options=_option_specs(options) or [],
        description=description,
        ai_flow=ai_flow,
        all_teams=all_teams,
        team_ids=team_ids,
    )
    return label_detail(actor=actor, label_id=created.pk)


@tool(title="Update a label category", access="write", admin=True, idempotent=True)
def update_label(
    actor: Actor,
    label_id: LabelId,
    label: Annotated[str | None, Field(min_length=1, max_length=100, description="New name; omit to keep it")] = None,
    description: Annotated[str | None, Field(max_length=2000, description="New description; omit to keep it")] = None,
    options: Annotated[
        list[OptionIn] | None,
        Field(
            min_length=1,
            max_length=50,
            description="The complete new option list (replaces all); options whose value stays keep their calls",
        ),
    ] = None,
    ai_flow: Annotated[bool | None, Field(description="Let the AI apply it; omit to keep it")] = None,
    all_teams: Annotated[
        bool | None, Field(description="true opens the label to every team; false keeps its current teams")
    ] = None,
    team_ids: TeamIds = None,
) -> LabelUpdated:
    """Change a label category (admins only); omitted fields are kept. options replaces the whole option list:
    an option whose value is given again (any case) keeps its id and the calls labelled with it; calls labelled with
    a dropped option lose that label (call_labels_removed says how many). team_ids limits the label to those teams;
    all_teams=true opens it to every team."""
    updated, removed = label_update(
        actor=actor,
        label_id=label_id,
        name=label,
        description=description,
        options=_option_specs(options),
        ai_flow=ai_flow,
        all_teams=all_teams,
        team_ids=team_ids,
    )
    detail = label_detail(actor=actor, label_id=updated.pk)
    return LabelUpdated(**detail.model_dump(), call_labels_removed=removed)


@tool(title="Delete a label category", access="write", admin=True, destructive=True, idempotent=True)
def delete_label(actor: Actor, label_id: LabelId) -> LabelDeleted:
    """Delete a label category with all its options (admins only). Every call labelled with it loses that label;
    this cannot be undone. To only change the options, use update_label."""
    deleted, removed = label_delete(actor=actor, label_id=label_id)
    return LabelDeleted(id=str(deleted.pk), label=deleted.name, deleted=True, call_labels_removed=removed)


# --- snippets ----------------------------------------------------------------------------------------------------

Seconds = Annotated[float | None, Field(ge=0, le=86_400, allow_inf_nan=False)]


@tool(title="Create a snippet", access="write")
def create_snippet(
    actor: Actor,
    conversation_id: Annotated[uuid.UUID, Field(description="The call's id, from search_calls")],
    user_uuid: Annotated[
        uuid.UUID | None,
        Field(
            description="The snippet's owner (id from list_reps); omit to own it yourself. Only admins may name "
            "someone else; org-level keys must name someone"
        ),
    ] = None,
    internal: Annotated[bool, Field(description="Only people of the organisation may watch it")] = True,
    start_time: Annotated[
        Seconds, Field(description="Start, in seconds from the call's start, e.g. 750; with end_time, or omit both")
    ] = None,
    end_time: Annotated[
        Seconds, Field(description="End, in seconds, after start_time and within the call, e.g. 845")
    ] = None,
    title: Annotated[
        str | None,
        Field(
            min_length=1, max_length=255, description='e.g. "Pricing objection"; omit for "<call title> 12:30-14:05"'
        ),
    ] = None,
    notes: Annotated[str, Field(max_length=5000, description="Notes shown with the snippet")] = "",
    notify_views: Annotated[bool, Field(description="Tell the owner when someone watches it")] = False,
    in_library: Annotated[bool, Field(description="Add it to the organisation's library")] = False,
    library_folder_path: Annotated[
        str, Field(max_length=500, description='Library folder, e.g. "Discovery/Great questions"; needs in_library')
    ] = "",
    my_library: Annotated[bool, Field(description="Add it to the owner's own library")] = False,
) -> SnippetOut:
    """Clip part of a call the caller can see (start_time and end_time in seconds; find moments with
    get_call_transcript), or the whole call (omit both), into a shareable snippet. Returns its id, web link, share
    code and time range. The owner must be an active user who can see the call."""
    snippet = snippet_create(
        actor=actor,
        call_id=conversation_id,
        owner_id=user_uuid,
        start_time=start_time,
        end_time=end_time,
        title=title,
        notes=notes,
        internal=internal,
        notify_views=notify_views,
        in_library=in_library,
        library_folder_path=library_folder_path,
        my_library=my_library,
    )
    return snippet_detail(actor=actor, snippet_id=snippet.pk)


@tool(title="List snippets", access="read")
def list_snippets(
    actor: Actor,
    conversation_id: Annotated[uuid.UUID | None, Field(description="Only snippets of this call")] = None,
    owner_id: Annotated[
        uuid.UUID | None, Field(description="Only snippets owned by this user (id from list_reps)")
    ] = None,
    page_size: PageSize = 20,
    cursor: Cursor = None,
) -> SnippetPage:
    """List snippets (clips of calls) on the calls the caller can see, newest first, with their time ranges, owners,
    web links and share codes. Filter by call and/or owner; page through with next_cursor."""
    return snippets_page(
        actor=actor, conversation_id=conversation_id, owner_id=owner_id, page_size=page_size, cursor=cursor
    )


@tool(title="Delete a snippet", access="write", destructive=True, idempotent=True)
def delete_snippet(
    actor: Actor,
    snippet_id: Annotated[uuid.UUID, Field(description="The snippet's id, from list_snippets or create_snippet")],
) -> SnippetDeleted:
    """Delete a snippet: its share link stops working and this cannot be undone. Only the snippet's owner or an
    admin may (others get admin_required); the call itself is not touched."""
    snippet = snippet_delete(actor=actor, snippet_id=snippet_id)
    return SnippetDeleted(id=str(snippet.pk), title=snippet.title, call_id=str(snippet.call_id), deleted=True)
