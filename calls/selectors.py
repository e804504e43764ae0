"""Reads for the call domain. Call visibility ("Who sees which call", TOOLS.md) lives here, once."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.lookups import StartsWith

from accounts.errors import InvalidArgument, NotFound, parse_id
from accounts.models import Membership, User
from accounts.permissions import Actor
from accounts.selectors import access_team
from attention_mcp.pagination import decode_cursor, decode_time_id_cursor, encode_cursor
from calls.models import (
    Call,
    CallLabel,
    Deal,
    Insight,
    LabelCategory,
    Participant,
    Scorecard,
    ScorecardItemScore,
    ScorecardResult,
    Snippet,
    TranscriptSegment,
)
from calls.schemas import (
    CallDetails,
    CallPage,
    CallSummary,
    ItemScore,
    ParticipantOut,
    PersonRef,
    Ref,
    ScorecardResultOut,
    Segment,
    TextMatch,
    TranscriptPage,
)


def calls_visible_to(*, actor: Actor, include_archived: bool = False) -> QuerySet[Call]:
    """Every call `actor` may see, as one queryset (one SQL statement, no Python filtering).

    - org-wide actors (org keys, operators) and admins: every call of the org;
    - managers: own calls, calls they took part in, and non-private calls owned by
      members of their teams or those teams' sub-teams;
    - everyone else (reps, listeners): own calls, calls they took part in, and
      non-private calls owned by members of their own teams;
    - private calls: only the owner, internal participants and admins;
    - archived calls only with `include_archived`; a deactivated user sees nothing.
    """
    qs = Call.objects.filter(org_id=actor.org_id)
    if not include_archived:
        qs = qs.filter(archived=False)
    if actor.user_id is None:
        return qs
    uid = actor.user_id
    # Evaluated inside the same statement, so a deactivation made a moment ago already counts.
    qs = qs.filter(Exists(User.objects.filter(pk=uid, org_id=actor.org_id, deactivated_at__isnull=True)))
    if "admin" in actor.roles:
        return qs

    own = Q(owner_id=uid)
    took_part = Q(Exists(Participant.objects.filter(call_id=OuterRef("pk"), user_id=uid)))
    my_memberships = Membership.objects.filter(user_id=uid, team__org_id=actor.org_id)
    owner_in_scope: QuerySet[Membership, Any]
    if "manager" in actor.roles:
        # The owner belongs to a team whose path starts with the path of one of
        # my teams: that team or any of its sub-teams.
        mine_above = my_memberships.filter(StartsWith(OuterRef("owner_team_path"), F("team__path")))
        owner_in_scope = (
            Membership.objects.filter(user_id=OuterRef("owner_id"), team__org_id=actor.org_id)
            .alias(owner_team_path=F("team__path"))
            .filter(Exists(mine_above))
        )
    else:
        owner_in_scope = Membership.objects.filter(
            user_id=OuterRef("owner_id"), team_id__in=my_memberships.values("team_id")
        )
    teammates = Q(private=False) & Q(Exists(owner_in_scope))
    return qs.filter(own | took_part | teammates)


def access_call(*, actor: Actor, call_id: uuid.UUID | str, include_archived: bool = True) -> Call:
    """Fetch one call the actor may see; NotFound alike for missing and not visible.

    Archived calls are reachable by id (archiving hides them from search, not from their owner).
    """
    call = calls_visible_to(actor=actor, include_archived=include_archived).filter(pk=parse_id("call", call_id)).first()
    if call is None:
        raise NotFound("call", call_id)
    return call


def access_snippet(*, actor: Actor, snippet_id: uuid.UUID | str) -> Snippet:
    """A snippet is visible exactly when its call is."""
    visible = calls_visible_to(actor=actor, include_archived=True)
    snippet = (
        Snippet.objects.filter(pk=parse_id("snippet", snippet_id), call__in=visible.values("pk"))
        .select_related("call")
        .first()
    )
    if snippet is None:
        raise NotFound("snippet", snippet_id)
    return snippet


def access_deal(*, actor: Actor, deal_id: uuid.UUID | str) -> Deal:
    deal = Deal.objects.filter(org_id=actor.org_id, pk=parse_id("deal", deal_id)).first()
    if deal is None:
        raise NotFound("deal", deal_id)
    return deal


def access_label(*, actor: Actor, label_id: uuid.UUID | str) -> LabelCategory:
    label = LabelCategory.objects.filter(org_id=actor.org_id, pk=parse_id("label", label_id)).first()
    if label is None:
        raise NotFound("label", label_id)
    return label


def access_scorecard(*, actor: Actor, scorecard_id: uuid.UUID | str) -> Scorecard:
    scorecard = Scorecard.objects.filter(org_id=actor.org_id, pk=parse_id("scorecard", scorecard_id)).first()
    if scorecard is None:
        raise NotFound("scorecard", scorecard_id)
    return scorecard


# --- search, details and transcripts (shapes in calls/schemas.py) -----------------

# Keeps any single tool result well under what assistants accept (~100k characters).
MAX_TRANSCRIPT_CHARS = 80_000
MATCHES_PER_CALL = 3
_CRM_NAME = re.compile(r"^(?!.*__)[A-Za-z0-9_ .\-]{1,64}$")


def _call_url(call_id: uuid.UUID) -> str:
    return f"{settings.WEB_APP_BASE_URL}/calls/{call_id}"


def _summary_fields(call: Call) -> dict[str, Any]:
    owner = call.owner
    return {
        "id": str(call.pk),
        "title": call.title,
        "started_at": call.started_at.isoformat(),
        "duration_s": call.duration_s,
        "owner": PersonRef(id=str(owner.pk), name=owner.full_name, email=owner.email),
        "team": Ref(id=str(call.team.pk), name=call.team.name) if call.team else None,
        "participants": [
            ParticipantOut(name=p.name, email=p.email, affiliation=p.affiliation, organizer=p.organizer)
            for p in call.participants.all()
        ],
        "labels": {cl.category.name: cl.option.value for cl in call.call_labels.all()},
        "deal": Ref(id=str(call.deal.pk), name=call.deal.name) if call.deal else None,
        "private": call.private,
        "archived": call.archived,
        "url": _call_url(call.pk),
    }


def _with_relations(qs: QuerySet[Call]) -> QuerySet[Call]:
    return qs.select_related("owner", "team", "deal").prefetch_related(
        Prefetch("participants", queryset=Participant.objects.order_by("-organizer", "name")),
        Prefetch("call_labels", queryset=CallLabel.objects.select_related("category", "option")),
    )


def _highlight(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: f"**{m.group(0)}**", text)


def call_search(
    *,
    actor: Actor,
    query: str | None = None,
    from_date: date | None = None,
    to_date: date | None = None,
    rep_ids: list[uuid.UUID] | None = None,
    rep_emails: list[str] | None = None,
    participant_emails: list[str] | None = None,
    team_ids: list[uuid.UUID] | None = None,
    labels: dict[str, str] | None = None,
    deal_id: uuid.UUID | None = None,
    crm_field: dict[str, Any] | None = None,
    hide_internal: bool = False,
    include_archived: bool = False,
    sort: str = "date_desc",
    page_size: int = 20,
    cursor: str | None = None,
) -> CallPage:
    """Search the calls the actor can see. Every filter narrows; ids of other organisations are not_found."""
    qs = calls_visible_to(actor=actor, include_archived=include_archived)
    text = " ".join((query or "").split())
    if text:
        qs = qs.filter(
            Q(title__icontains=text)
            | Q(Exists(TranscriptSegment.objects.filter(call_id=OuterRef("pk"), text__icontains=text)))
        )
    if from_date and to_date and from_date > to_date:
        raise InvalidArgument("from_date", "from_date must not be after to_date.")
    if from_date:
        qs = qs.filter(started_at__gte=datetime.combine(from_date, time.min, tzinfo=UTC))
    if to_date and to_date < date.max:
        qs = qs.filter(started_at__lt=datetime.combine(to_date + timedelta(days=1), time.min, tzinfo=UTC))
    if rep_ids:
        qs = qs.filter(owner_id__in=rep_ids)
    if rep_emails:
        qs = qs.filter(owner__email__in=[e.strip().lower() for e in rep_emails])
    if participant_emails:
        emails = [e.strip().lower() for e in participant_emails]
        qs = qs.filter(Exists(Participant.objects.filter(call_id=OuterRef("pk"), email__in=emails)))
    if team_ids:
        scope = Q()
        for team_id in team_ids:
            scope |= Q(team__path__startswith=access_team(actor=actor, team_id=team_id).path)
        qs = qs.filter(scope)
    for category, option in (labels or {}).items():
        if not LabelCategory.objects.filter(org_id=actor.org_id, name=category).exists():
            raise NotFound("label", category)
        qs = qs.filter(
            Exists(CallLabel.objects.filter(call_id=OuterRef("pk"), category__name=category, option__value=option))
        )
    if deal_id:
        qs = qs.filter(deal_id=access_deal(actor=actor, deal_id=deal_id).pk)
    if crm_field:
        entity, field_name, values = crm_field["entity"], crm_field["field"], crm_field["values"]
        if not _CRM_NAME.match(entity) or not _CRM_NAME.match(field_name):
            raise InvalidArgument("crm_field", "entity and field are names of letters, digits, spaces, _ . -")
        # Explicit key transforms: a name is only ever a JSON key, never part of an ORM lookup path.
        qs = qs.alias(crm_value=KeyTextTransform(field_name, KeyTransform(entity, "deal__crm_fields"))).filter(
            crm_value__in=values
        )
    if hide_internal:
        qs = qs.filter(is_internal=False)

    descending = sort != "date_asc"
    position = decode_time_id_cursor(cursor, kind=f"calls:{sort}", time_key="s")
    if position is not None:
        at, after_id = position
        if descending:
            qs = qs.filter(Q(started_at__lt=at) | Q(started_at=at, id__lt=after_id))
        else:
            qs = qs.filter(Q(started_at__gt=at) | Q(started_at=at, id__gt=after_id))
    order = ["-started_at", "-id"] if descending else ["started_at", "id"]
    page = list(_with_relations(qs.order_by(*order))[: page_size + 1])
    more = len(page) > page_size
    page = page[:page_size]

    matches: dict[uuid.UUID, list[TextMatch]] = {}
    if text and page:
        pattern = re.compile(re.escape(text), re.IGNORECASE)
        segments = TranscriptSegment.objects.filter(call_id__in=[c.pk for c in page], text__icontains=text).order_by(
            "call_id", "position"
        )
        for seg in segments.only("call_id", "start_s", "speaker", "text")[: page_size * 20]:
            found = matches.setdefault(seg.call_id, [])
            if len(found) < MATCHES_PER_CALL:
                found.append(TextMatch(start_s=seg.start_s, speaker=seg.speaker, text=_highlight(seg.text, pattern)))
    next_cursor = None
    if more and page:
        last = page[-1]
        next_cursor = encode_cursor({"k": f"calls:{sort}", "s": last.started_at.isoformat(), "i": str(last.pk)})
    return CallPage(
        calls=[CallSummary(**_summary_fields(c), matches=matches.get(c.pk, [])) for c in page],
        next_cursor=next_cursor,
    )


def _format_ts(seconds: float) -> str:
    whole = int(seconds)
    return (
        f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
        if whole >= 3600
        else f"{whole // 60:02d}:{whole % 60:02d}"
    )


def _segment_out(seg: TranscriptSegment) -> Segment:
    return Segment(position=seg.position, speaker=seg.speaker, start_s=seg.start_s, end_s=seg.end_s, text=seg.text)


def call_details(
    *, actor: Actor, call_id: uuid.UUID, include_transcript: bool = True, transcript_format: str = "text"
) -> CallDetails:
    """One visible call with everything known about it; the transcript is capped to keep the result small."""
    visible = calls_visible_to(actor=actor, include_archived=True).filter(pk=call_id)
    call = _with_relations(visible).select_related("insight").first()
    if call is None:
        raise NotFound("call", call_id)
    insight: Insight | None = getattr(call, "insight", None)
    results = (
        ScorecardResult.objects.filter(call=call)
        .select_related("scorecard")
        .prefetch_related(
            Prefetch("scores", queryset=ScorecardItemScore.objects.select_related("item").order_by("item__position"))
        )
    )
    text: str | None = None
    segments: list[Segment] | None = None
    truncated = False
    if include_transcript:
        size = 0
        lines: list[str] = []
        kept: list[Segment] = []
        for seg in TranscriptSegment.objects.filter(call=call).order_by("position"):
            line = f"[{_format_ts(seg.start_s)}] {seg.speaker}: {seg.text}"
            size += len(line) + 1
            if size > MAX_TRANSCRIPT_CHARS:
                truncated = True
                break
            lines.append(line)
            kept.append(_segment_out(seg))
        if transcript_format == "segments":
            segments = kept
        else:
            text = "\n".join(lines)
    return CallDetails(
        **_summary_fields(call),
        is_internal=call.is_internal,
        media_url=call.media_url,
        summary=insight.summary if insight else "",
        action_items=list(insight.action_items) if insight else [],
        next_steps=list(insight.next_steps) if insight else [],
        topics=list(insight.topics) if insight else [],
        scorecard_results=[
            ScorecardResultOut(
                id=str(r.pk),
                scorecard_id=str(r.scorecard_id),
                scorecard_title=r.scorecard.title,
                summary=r.summary,
                scores=[
                    ItemScore(
                        item_id=str(s.item_id),
                        title=s.item.title,
                        score=s.score,
                        min_score=s.item.min_score,
                        max_score=s.item.max_score,
                        description=s.description,
                    )
                    for s in r.scores.all()
                ],
            )
            for r in results
        ],
        transcript_text=text,
        transcript_segments=segments,
        transcript_truncated=truncated,
    )


def call_transcript_page(
    *, actor: Actor, call_id: uuid.UUID, page_size: int = 200, cursor: str | None = None
) -> TranscriptPage:
    """A page of a visible call's transcript, in order; pages also stop early to stay under the size cap."""
    call = access_call(actor=actor, call_id=call_id)
    position = decode_cursor(cursor, kind=f"transcript:{call.pk}")
    start = 0
    if position is not None:
        start = position.get("p", 0)
        if not isinstance(start, int) or start < 0:
            raise InvalidArgument("cursor", "The cursor is not one this server issued.")
    base = TranscriptSegment.objects.filter(call=call)
    total = base.count()
    out: list[Segment] = []
    size = 0
    for seg in base.filter(position__gte=start).order_by("position")[:page_size]:
        size += len(seg.text) + 64
        if out and size > MAX_TRANSCRIPT_CHARS:
            break
        out.append(_segment_out(seg))
    next_start = out[-1].position + 1 if out else start
    more = base.filter(position__gte=next_start).exists() if out else False
    return TranscriptPage(
        call_id=str(call.pk),
        title=call.title,
        segments=out,
        total_segments=total,
        next_cursor=encode_cursor({"k": f"transcript:{call.pk}", "p": next_start}) if more else None,
    )
