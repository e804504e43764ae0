"""Output shapes of the analysis tools (they become the tools' outputSchema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class AnswerSegment(BaseModel):
    start_sec: float | None = Field(
        description="Start, in seconds from the beginning of the call (null without timestamps)"
    )
    end_sec: float | None = Field(
        description="End, in seconds from the beginning of the call (null without timestamps)"
    )
    speaker: str
    text: str = Field(description="What was said; a long segment is cut around its relevant sentences, marked with …")


class CallAnswer(BaseModel):
    conversation_id: str = Field(description="The call's id, as given")
    title: str | None = Field(description="The call's title; null when the call is not found")
    started_at: str | None = Field(description="When the call started (ISO 8601); null when the call is not found")
    output: str | None = Field(
        description="The answer: the transcript passages that answer the prompt, best first, as "
        "'[mm:ss] Speaker: words' lines (a written answer when a language model is configured); null on error"
    )
    error: Literal["not_found", "empty_transcript"] | None = Field(
        description="Why this call has no answer: not_found (no such call visible to you) or empty_transcript; "
        "null when answered"
    )
    error_message: str | None = Field(description="The error in a sentence; null when answered")
    method: Literal["extractive", "language_model"] | None = Field(
        description="How the output was written: extractive (passages quoted as said) or language_model"
    )
    transcript_truncated: bool = Field(
        description="True when the transcript is longer than what is read per call (its first part was searched)"
    )
    segments: list[AnswerSegment] = Field(description="The transcript segments the answer uses, passage by passage")


class AskAttentionResult(BaseModel):
    results: list[CallAnswer] = Field(
        description="One entry per distinct call: in the order given, or most recent first for a deal"
    )
    deal_id: str | None = Field(description="The deal asked about, when deal_id was given")
    calls_total: int = Field(description="Distinct calls asked about (for a deal: its calls visible to you)")
    calls_omitted: int = Field(description="Calls of the deal left out beyond the 25 most recent")
    note: str | None = Field(description="Anything the caller should know about the whole result, e.g. omitted calls")
