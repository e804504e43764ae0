"""Reads for AI analysis: ask_attention answers a question from the transcripts of calls the actor can see.

Visibility is `calls.selectors.calls_visible_to`, applied in the one query that fetches the calls;
the segments of all of them come in one more query, so the cost does not grow with a query per call.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Final

from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast, Left

from accounts.errors import InvalidArgument
from accounts.permissions import Actor
from analysis.backends import Answerer, AnswerRequest, default_answerer
from analysis.ranking import Passage, Query, Transcript, parse_query, rank_passages, select_passages
from analysis.schemas import AnswerSegment, AskAttentionResult, CallAnswer
from calls.models import Call, TranscriptSegment
from calls.selectors import access_deal, calls_visible_to

MAX_CALLS: Final[int] = 25
# Bounded work per call: a transcript's first segments, each cut to its first characters.
MAX_SEGMENTS_PER_CALL: Final[int] = 1000
MAX_SEGMENT_CHARS: Final[int] = 4000
# The whole result stays well under the ~100k characters assistants accept: answers and their
# segments share this many characters, split evenly between the calls (at most PER_CALL each).
RESULT_BUDGET: Final[int] = 36_000
PER_CALL_BUDGET: Final[int] = 8_000
MAX_TITLE_CHARS: Final[int] = 200
NO_MATCH: Final[str] = (
    "Nothing in this call's transcript answers the question. Try other words, or read the transcript with "
    "get_call_transcript."
)


def calls_ask(
    *,
    actor: Actor,
    prompt: str,
    conversation_ids: Sequence[str] | None = None,
    deal_id: uuid.UUID | str | None = None,
    include_timestamps: bool = True,
    answerer: Answerer | None = None,
) -> AskAttentionResult:
    """Answer `prompt` from each call's transcript: up to 25 named calls, or the visible calls of a deal.

    Any actor may ask about the calls it can see; nothing is written. A named call that is malformed,
    missing, another organisation's or not visible gets `error: not_found` in its own entry (the others
    are still answered); a deal of another organisation is NotFound for the whole request. Named calls
    may be archived; a deal's archived calls are left out, as search leaves them out.
    """
    query = _query(prompt)
    note = None
    deal_ref = None
    if conversation_ids is not None and deal_id is None:
        entries = _named_calls(actor=actor, conversation_ids=conversation_ids)
        total = len(entries)
    elif deal_id is not None and conversation_ids is None:
        deal = access_deal(actor=actor, deal_id=deal_id)
        deal_ref = str(deal.pk)
        entries, total = _deal_calls(actor=actor, deal_id=deal.pk)
        if total > len(entries):
            note = (
                f"The deal has {total} calls visible to you; only the {MAX_CALLS} most recent were read "
                f"({total - len(entries)} older ones were left out). Name older calls with conversation_ids."
            )
        elif not entries:
            note = "The deal has no calls visible to you."
    else:
        raise InvalidArgument(
            "conversation_ids", "Give either conversation_ids (up to 25 call ids) or deal_id, not both and not neither."
        )

    transcripts = _transcripts([row for _, row in entries if row is not None])
    budget = min(PER_CALL_BUDGET, RESULT_BUDGET // max(1, len(entries)))
    segment_limit = max(150, min(600, budget // 6))
    results: list[CallAnswer] = []
    pending: list[tuple[int, AnswerRequest]] = []
    for given, row in entries:
        if row is None:
            results.append(_failed(given, None, "not_found", "No call with this id is visible to you."))
            continue
        if row.first is None:
            results.append(_failed(given, row, "empty_transcript", "This call has no transcript to answer from."))
            continue
        transcript = transcripts.get(row.pk)
        ranked = rank_passages(query, transcript) if transcript else []
        passages = select_passages(query, ranked, budget=budget, segment_limit=segment_limit)
        results.append(
            CallAnswer(
                conversation_id=given,
                title=_title(row),
                started_at=row.started_at.isoformat(),
                output=NO_MATCH if not passages else None,
                error=None,
                error_message=None,
                method=None,
                transcript_truncated=row.truncated,
                segments=_segments(passages, include_timestamps=include_timestamps),
            )
        )
        if passages:
            request = AnswerRequest(
                prompt=" ".join(prompt.split()),
                title=row.title,
                passages=tuple(passages),
                include_timestamps=include_timestamps,
                max_output_chars=budget,
            )
            pending.append((len(results) - 1, request))

    answers = (answerer or default_answerer()).answer([request for _, request in pending]) if pending else []
    for (index, _), answer in zip(pending, answers, strict=True):
        results[index].output = answer.output
        results[index].method = answer.method
    return AskAttentionResult(
        results=results, deal_id=deal_ref, calls_total=total, calls_omitted=total - len(entries), note=note
    )


def _query(prompt: str) -> Query:
    text = " ".join(prompt.split())
    if not text:
        raise InvalidArgument("prompt", "The prompt must contain a question or some words to look for.")
    query = parse_query(text)
    if query.empty:
        raise InvalidArgument("prompt", "The prompt has no words to look for in transcripts.")
    return query


def _named_calls(*, actor: Actor, conversation_ids: Sequence[str]) -> list[tuple[str, _CallRow | None]]:
    """Each distinct id as given, with its call when the actor can see it (archived calls included)."""
    wanted = _distinct_ids(conversation_ids)
    ids = [key for key in wanted if isinstance(key, uuid.UUID)]
    visible = calls_visible_to(actor=actor, include_archived=True).filter(pk__in=ids)
    found = {row.pk: row for row in _call_rows(visible)}
    return [(given, found.get(key) if isinstance(key, uuid.UUID) else None) for key, given in wanted.items()]


def _deal_calls(*, actor: Actor, deal_id: uuid.UUID) -> tuple[list[tuple[str, _CallRow | None]], int]:
    """The deal's 25 most recent calls the actor can see (archived ones left out), and how many it can see."""
    of_deal = calls_visible_to(actor=actor).filter(deal_id=deal_id)
    rows = _call_rows(of_deal.order_by("-started_at", "-pk"), limit=MAX_CALLS + 1)
    total = len(rows) if len(rows) <= MAX_CALLS else of_deal.count()
    return [(str(row.pk), row) for row in rows[:MAX_CALLS]], total


def _distinct_ids(given: Sequence[str]) -> dict[uuid.UUID | str, str]:
    """Each call once, keyed by its UUID (any spelling of it) or, when malformed, by the text as sent."""
    if not given:
        raise InvalidArgument("conversation_ids", "Give at least one call id.")
    if len(given) > MAX_CALLS:
        raise InvalidArgument("conversation_ids", f"At most {MAX_CALLS} calls per question; use deal_id for a deal.")
    wanted: dict[uuid.UUID | str, str] = {}
    for raw in given:
        text = str(raw).strip()
        try:
            key: uuid.UUID | str = uuid.UUID(text)
        except ValueError:
            key = text
        wanted.setdefault(key, text)
    return wanted


@dataclass(frozen=True, slots=True)
class _CallRow:
    pk: uuid.UUID
    title: str
    started_at: datetime
    first: int | None  # position of the first segment; None: no transcript
    truncated: bool  # segments lie past the per-call reading limit


def _call_rows(calls: QuerySet[Call], *, limit: int | None = None) -> list[_CallRow]:
    of_call = TranscriptSegment.objects.filter(call_id=OuterRef("pk"))
    # Two index probes per call, whatever the transcript's length.
    rows = calls.annotate(first=Subquery(of_call.order_by("position").values("position")[:1])).annotate(
        truncated=Exists(of_call.filter(position__gte=OuterRef("first") + MAX_SEGMENTS_PER_CALL))
    )
    values = rows.values_list("pk", "title", "started_at", "first", "truncated")
    return [_CallRow(*row) for row in (values[:limit] if limit is not None else values)]


def _transcripts(rows: Sequence[_CallRow]) -> dict[uuid.UUID, Transcript]:
    """The transcripts of the calls in `rows`, in one query: at most MAX_SEGMENTS_PER_CALL segments each
    (those within that many positions of the call's first), each cut to MAX_SEGMENT_CHARS.

    Rows come unsorted and are put in order here: sorting in the database would spill the texts
    to disk, while each call's rows arrive nearly in order and sort in linear time.
    """
    by_first: dict[int, list[uuid.UUID]] = {}
    for row in rows:
        if row.first is not None:
            by_first.setdefault(row.first, []).append(row.pk)
    if not by_first:
        return {}
    # Positions are unique per call, so this reads at most the limit per call (all of it when, as
    # usual, positions run 0, 1, 2, ...).
    scope = Q()
    for first, ids in by_first.items():
        scope |= Q(call_id__in=ids, position__lt=first + MAX_SEGMENTS_PER_CALL)
    segments = (
        TranscriptSegment.objects.filter(scope)
        .order_by()
        # The call's id as text: tens of thousands of UUID objects would cost more than the query.
        .annotate(head=Left("text", MAX_SEGMENT_CHARS), call_key=Cast("call_id", CharField()))
        .values_list("call_key", "position", "speaker", "start_s", "end_s", "head")
    )
    by_call: dict[str, list[tuple[str, int, str, float, float, str]]] = {}
    for segment in segments:
        by_call.setdefault(segment[0], []).append(segment)
    out: dict[uuid.UUID, Transcript] = {}
    for call_key, call_rows in by_call.items():
        call_rows.sort(key=itemgetter(1))
        _, _, speakers, starts, ends, texts = zip(*call_rows, strict=True)
        out[uuid.UUID(call_key)] = Transcript(speakers, starts, ends, texts)
    return out


def _title(row: _CallRow) -> str:
    title: str = row.title
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "\u2026"


def _failed(given: str, row: _CallRow | None, code: str, message: str) -> CallAnswer:
    return CallAnswer.model_validate(
        {
            "conversation_id": given,
            "title": _title(row) if row else None,
            "started_at": row.started_at.isoformat() if row else None,
            "output": None,
            "error": code,
            "error_message": message,
            "method": None,
            "transcript_truncated": False,
            "segments": [],
        }
    )


def _segments(passages: Sequence[Passage], *, include_timestamps: bool) -> list[AnswerSegment]:
    out: list[AnswerSegment] = []
    seen: set[tuple[float, str]] = set()
    for passage in passages:
        for line in passage.lines:
            if (line.start_s, line.speaker) in seen:
                continue
            seen.add((line.start_s, line.speaker))
            out.append(
                AnswerSegment(
                    start_sec=line.start_s if include_timestamps else None,
                    end_sec=line.end_s if include_timestamps else None,
                    speaker=line.speaker,
                    text=line.text,
                )
            )
    return out
