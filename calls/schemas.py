"""Output shapes of the call tools (they become the tools' outputSchema)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PersonRef(BaseModel):
    id: str
    name: str
    email: str


class Ref(BaseModel):
    id: str
    name: str


class ParticipantOut(BaseModel):
    name: str
    email: str
    affiliation: str = Field(description="internal (our organisation) or external (customer, prospect)")
    organizer: bool


class TextMatch(BaseModel):
    start_s: float
    speaker: str
    text: str = Field(description="The matching passage; matched words are wrapped in ** **.")


class CallSummary(BaseModel):
    id: str
    title: str
    started_at: str
    duration_s: int
    owner: PersonRef
    team: Ref | None
    participants: list[ParticipantOut]
    labels: dict[str, str] = Field(description="Label category -> chosen option")
    deal: Ref | None
    private: bool
    archived: bool
    url: str
    matches: list[TextMatch] = Field(default_factory=list, description="Transcript passages matching the query")


class CallPage(BaseModel):
    calls: list[CallSummary]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class Segment(BaseModel):
    position: int
    speaker: str
    start_s: float
    end_s: float
    text: str


class ItemScore(BaseModel):
    item_id: str
    title: str
    score: int
    min_score: int
    max_score: int
    description: str


class ScorecardResultOut(BaseModel):
    id: str
    scorecard_id: str
    scorecard_title: str
    summary: str
    scores: list[ItemScore]


class CallDetails(CallSummary):
    is_internal: bool
    media_url: str
    summary: str
    action_items: list[str]
    next_steps: list[str]
    topics: list[str]
    scorecard_results: list[ScorecardResultOut]
    transcript_text: str | None = Field(description="Transcript as '[mm:ss] Speaker: text' lines (text format)")
    transcript_segments: list[Segment] | None = Field(description="Transcript segments (segments format)")
    transcript_truncated: bool = Field(
        description="True when the transcript was cut to keep the result small; page it with get_call_transcript"
    )


class TranscriptPage(BaseModel):
    call_id: str
    title: str
    segments: list[Segment]
    total_segments: int
    next_cursor: str | None
