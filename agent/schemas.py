"""Output shapes of the super agent tools (they become the tools' outputSchema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SessionStatus = Literal["idle", "processing", "cancelled", "failed"]


class Reference(BaseModel):
    call_id: str
    title: str
    start_s: float | None = Field(description="Where in the call the answer comes from (seconds); null: the whole call")


class MessageOut(BaseModel):
    id: str
    role: Literal["user", "assistant"]
    content: str
    references: list[Reference] = Field(description="Calls an assistant message drew on; empty for user messages")
    created_at: str


class SendResult(BaseModel):
    session_id: str
    status: Literal["completed", "processing", "failed", "cancelled"] = Field(
        description="completed: `message` is the answer; processing: still working, poll `poll_with`; "
        "failed or cancelled: `message` says why"
    )
    message: MessageOut | None = Field(description="The assistant's message once the work has ended; else null")
    poll_with: Literal["get_super_agent_session_history"] = Field(
        default="get_super_agent_session_history",
        description="The tool to poll (with session_id) while status is processing",
    )


class SessionOut(BaseModel):
    id: str
    title: str
    status: SessionStatus = Field(
        description="processing while the agent works on a message; else idle, or how "
        "the last message ended (cancelled, failed)"
    )
    timezone: str = Field(description="IANA time zone used for relative dates such as 'last week'")
    message_count: int
    created_at: str
    updated_at: str


class SessionList(BaseModel):
    sessions: list[SessionOut] = Field(description="The caller's sessions, most recently active first")
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class SessionHistory(BaseModel):
    session_id: str
    title: str
    status: SessionStatus
    done: bool = Field(description="True when the last message is the assistant's: nothing is being worked on")
    messages: list[MessageOut] = Field(
        description="Oldest first within the page; the first page holds the most recent messages"
    )
    next_cursor: str | None = Field(description="Pass as cursor to get older messages; null when none are left.")


class CancelResult(BaseModel):
    session_id: str
    cancelled: bool = Field(description="True when a message in progress was stopped; false when none was")
    status: SessionStatus
    message: MessageOut | None = Field(description="The note added to the history when something was cancelled")


class DeletedSession(BaseModel):
    session_id: str
    deleted: Literal[True] = True
    messages_deleted: int
