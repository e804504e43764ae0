"""MCP tools of the super agent: an asynchronous, multi-step assistant over the caller's own data.

All are user-level only: a session belongs to a person, and the agent acts as that person.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from accounts.permissions import Actor
from agent.schemas import CancelResult, DeletedSession, SendResult, SessionHistory, SessionList, SessionOut
from agent.selectors import session_history, session_list
from agent.services import session_cancel, session_delete, session_message_send, session_rename
from mcpgateway.registry import tool

SessionId = Annotated[
    uuid.UUID, Field(description="The session's id, from send_super_agent_message or list_super_agent_sessions")
]


@tool(title="Ask the super agent", access="write", user_required=True)
def send_super_agent_message(
    actor: Actor,
    content: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4000,
            description='The question, e.g. "What did customers say about pricing last week?"',
        ),
    ],
    session_id: Annotated[
        uuid.UUID | None,
        Field(description="Continue this session (follow-up questions); omit to start a new session"),
    ] = None,
    timezone: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9_+\-/]+$",
            description='IANA time zone for relative dates such as "last week", e.g. "Europe/Berlin"; omit to keep '
            "the session's (UTC for a new session)",
        ),
    ] = None,
) -> SendResult:
    """Ask the super agent, a multi-step research assistant over the caller's own calls. It reads the question
    (dates like "last week" or "in March" in the session's time zone, names of reps, teams and deals), searches
    the calls the caller can see, reads the most relevant ones and answers with references to the calls it used
    ({call_id, title, start_s}); it also reports deal and scorecard figures when asked. It sees exactly what the
    caller sees, nothing more.

    Omit session_id to start a new session (titled from this message); pass it for a follow-up ("what budgets
    did those customers mention?"). Waits up to about 15 seconds: status "completed" carries the answer in
    `message`; "processing" means it is still working: poll get_super_agent_session_history with session_id
    until `done` is true. One message at a time per session (else conflict). For one quick lookup, search_calls
    or ask_attention are faster."""
    return session_message_send(actor=actor, content=content, session_id=session_id, timezone_name=timezone)


@tool(title="List super agent sessions", access="read", user_required=True)
def list_super_agent_sessions(
    actor: Actor,
    title: Annotated[
        str | None, Field(max_length=200, description='Only sessions whose title contains this, e.g. "pricing"')
    ] = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="Sessions per page, at most 1000")] = 20,
    cursor: Annotated[str | None, Field(description="next_cursor of the previous page", max_length=500)] = None,
) -> SessionList:
    """List the caller's own super agent sessions, most recently active first: id, title, status (processing
    while the agent works), time zone and message count. Filter by words in the title. Read one session's
    messages with get_super_agent_session_history."""
    return session_list(actor=actor, title=title, limit=limit, cursor=cursor)


@tool(title="Read a super agent session", access="read", user_required=True)
def get_super_agent_session_history(
    actor: Actor,
    session_id: SessionId,
    page_size: Annotated[int, Field(ge=1, le=50, description="Messages per page")] = 20,
    cursor: Annotated[
        str | None, Field(description="next_cursor of the previous page (older messages)", max_length=500)
    ] = None,
) -> SessionHistory:
    """Read one of the caller's super agent sessions: its status and messages, the assistant's with the calls
    they drew on. `done` is true once the last message is the assistant's; while it is false the agent is still
    working: poll this tool every few seconds after send_super_agent_message returned "processing". The first
    page holds the most recent messages; next_cursor goes further back."""
    return session_history(actor=actor, session_id=session_id, page_size=page_size, cursor=cursor)


@tool(title="Cancel the super agent's work", access="write", user_required=True)
def cancel_super_agent_processing(
    actor: Actor,
    session_id: SessionId,
    reason: Annotated[
        str | None, Field(max_length=500, description='Why, kept in the history, e.g. "asked the wrong question"')
    ] = None,
) -> CancelResult:
    """Stop the super agent working on the current message of one of the caller's sessions. The agent stops
    before its next step and stores no answer; the history gets a note that it was cancelled, and the session
    takes new messages again. Cancelling a session that is not processing changes nothing (cancelled: false)."""
    return session_cancel(actor=actor, session_id=session_id, reason=reason)


@tool(title="Rename a super agent session", access="write", user_required=True, idempotent=True)
def rename_super_agent_session(
    actor: Actor,
    session_id: SessionId,
    title: Annotated[
        str, Field(min_length=1, max_length=200, description='The new title, e.g. "Q3 pricing objections"')
    ],
) -> SessionOut:
    """Rename one of the caller's super agent sessions (the title is what list_super_agent_sessions searches).
    Returns the session."""
    return session_rename(actor=actor, session_id=session_id, title=title)


@tool(title="Delete a super agent session", access="write", user_required=True, destructive=True)
def delete_super_agent_session(actor: Actor, session_id: SessionId) -> DeletedSession:
    """Delete one of the caller's super agent sessions for good, with all its messages. Work in progress on it
    stops and stores nothing. This cannot be undone; use rename_super_agent_session to tidy up instead."""
    return session_delete(actor=actor, session_id=session_id)
