"""MCP tools of the analysis app."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from accounts.permissions import Actor
from analysis.schemas import AskAttentionResult
from analysis.selectors import calls_ask
from mcpgateway.registry import tool

CallId = Annotated[str, Field(max_length=100, description="A call's id, from search_calls")]


@tool(title="Ask about calls", access="read")
def ask_attention(
    actor: Actor,
    prompt: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2000,
            description='The question to answer from the transcripts, e.g. "What budget did they mention?"',
        ),
    ],
    conversation_ids: Annotated[
        list[CallId] | None,
        Field(
            min_length=1,
            max_length=25,
            description='Up to 25 call ids to ask about, e.g. ["3f1c2b9e-8a4d-4e7b-9c1a-2d5e6f7a8b9c"]; '
            "give this or deal_id",
        ),
    ] = None,
    deal_id: Annotated[
        uuid.UUID | None,
        Field(description="Ask about the calls of this deal instead (its 25 most recent visible calls)"),
    ] = None,
    include_timestamps: Annotated[
        bool, Field(description="Show [mm:ss] timestamps in the answer and start/end seconds on each segment")
    ] = True,
) -> AskAttentionResult:
    """Answer a question from call transcripts: for each call, the passages that answer it (ranked by relevance,
    with the reply to a question rather than the question alone), quoted with speakers and timestamps, plus
    the segments used. Ask about up to 25 calls by id, or about a deal's calls with deal_id (not both).
    A call that cannot be answered (not found or not visible to you, empty transcript) gets an `error` in its
    own entry; the other calls are still answered. Use search_calls to find calls by words instead, and
    get_call_transcript to read a whole transcript."""
    return calls_ask(
        actor=actor,
        prompt=prompt,
        conversation_ids=conversation_ids,
        deal_id=deal_id,
        include_timestamps=include_timestamps,
    )
