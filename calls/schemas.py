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


# --- call writes, labels, snippets ------------------------------------------------------------


class AppliedLabel(BaseModel):
    label_id: str = Field(description="The label category's id, from list_labels")
    label: str = Field(description='The label category, e.g. "Call Type"')
    option_id: str
    option: str = Field(description='The chosen option, e.g. "Demo"')


class CallLabels(BaseModel):
    call_id: str
    title: str
    url: str
    labels: list[AppliedLabel] = Field(description="Every label the call carries after the change")


class LabelOptionOut(BaseModel):
    id: str
    value: str
    description: str


class LabelOut(BaseModel):
    id: str
    label: str = Field(description='The category\'s name, e.g. "Call Type"')
    description: str
    ai_flow: bool = Field(description="Applied automatically by the AI pipeline, not only by people")
    all_teams: bool = Field(description="Applies to calls of every team; otherwise only to calls of `teams`")
    teams: list[Ref]
    options: list[LabelOptionOut] = Field(description="The options, in display order")
    created_at: str


class LabelPage(BaseModel):
    labels: list[LabelOut]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class LabelUpdated(LabelOut):
    call_labels_removed: int = Field(
        description="How many calls lost their label because their option was dropped from the options"
    )


class LabelDeleted(BaseModel):
    id: str
    label: str
    deleted: bool
    call_labels_removed: int = Field(description="How many calls carried this label (those labels are gone too)")


class SnippetOut(BaseModel):
    id: str
    title: str
    url: str
    share_code: str = Field(description="The code of the snippet's share link")
    call_id: str
    call_title: str
    owner: PersonRef
    start_time: float | None = Field(description="Start in seconds from the call's start; null: the whole call")
    end_time: float | None = Field(description="End in seconds from the call's start; null: the whole call")
    notes: str
    internal: bool = Field(description="Only people of the organisation may watch it")
    notify_views: bool
    in_library: bool
    library_folder_path: str
    my_library: bool
    created_at: str


class SnippetPage(BaseModel):
    snippets: list[SnippetOut]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class SnippetDeleted(BaseModel):
    id: str
    title: str
    call_id: str
    deleted: bool
