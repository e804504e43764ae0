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
from accounts.models import Membership, Team, User
from accounts.permissions import Actor
from accounts.selectors import access_team, access_user, team_path_and_above
from attention_mcp.pagination import decode_cursor, decode_text_id_cursor, decode_time_id_cursor, encode_cursor
from calls import search
from calls.models import (
    Call,
    CallLabel,
    Deal,
    Insight,
    LabelCategory,
    LabelOption,
    Participant,
    Scorecard,
    ScorecardItemScore,
    ScorecardResult,
    Snippet,
    TranscriptSegment,
)
from calls.schemas import (
    AppliedLabel,
    CallDetails,
    CallLabels,
    CallPage,
    CallSummary,
    ItemScore,
    LabelOptionOut,
    LabelOut,
    LabelPage,
    ParticipantOut,
    PersonRef,
    Ref,
    ScorecardResultOut,
    Segment,
    SnippetOut,
    SnippetPage,
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
    sort: str | None = None,
    page_size: int = 20,
    cursor: str | None = None,
) -> CallPage:
    """Search the calls the actor can see. Every filter narrows; ids of other organisations are not_found.

    `query` is full text over titles and transcripts in web search syntax (calls/search.py). `sort`:
    relevance (the default when the query has words), date_desc (the default otherwise) or date_asc.
    """
    qs = calls_visible_to(actor=actor, include_archived=include_archived)
    text = search.parse_query(query)
    if from_date and to_date and from_date > to_date:
        raise InvalidArgument("from_date", "from_date must not be after to_date.")
    if from_date:
        qs = qs.filter(started_at__gte=datetime.combine(from_date, time.min, tzinfo=UTC))
    if to_date and to_date < date.max:
        qs = qs.filter(started_at__lt=datetime.combine(to_date + timedelta(days=1), time.min, tzinfo=UTC))
    if rep_ids:
        # Like team_ids and deal_id: naming a person of another organisation is not_found, not an empty page.
        known = set(User.objects.filter(org_id=actor.org_id, pk__in=rep_ids).values_list("pk", flat=True))
        missing = [r for r in rep_ids if r not in known]
        if missing:
            raise NotFound("user", missing[0])
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
        label = LabelCategory.objects.filter(org_id=actor.org_id, name=category).first()
        if label is None:
            raise NotFound("label", category)
        # The option's id first: each call is then one probe of the (option, call) index, not a join per call.
        options = list(LabelOption.objects.filter(category=label, value=option).values_list("pk", flat=True))
        qs = qs.filter(Exists(CallLabel.objects.filter(call_id=OuterRef("pk"), option_id__in=options)))
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

    found = search.search_page(
        qs, text, org_id=actor.org_id, sort=search.effective_sort(sort, text), page_size=page_size, cursor=cursor
    )
    matches = search.highlights(text, found.ids)
    return CallPage(calls=_search_summaries(found.ids, matches), next_cursor=found.next_cursor)


def _search_summaries(ids: list[uuid.UUID], matches: dict[uuid.UUID, list[TextMatch]]) -> list[CallSummary]:
    """The summaries of already visible calls, in the order of `ids`: _summary_fields' shape, from plain rows.

    Three queries of plain values instead of model instances for every call, owner, team, deal, participant
    and label: a page of search results is built several times faster (about 10 ms instead of 25 on the
    50,000-call benchmark), which is a large share of a search's time.
    """
    rows = Call.objects.filter(pk__in=ids).values(
        "id", "title", "started_at", "duration_s", "private", "archived", "owner_id",
        "owner__first_name", "owner__last_name", "owner__email", "team_id", "team__name", "deal_id", "deal__name",
    )  # fmt: skip
    people: dict[uuid.UUID, list[ParticipantOut]] = {}
    for call_id, name, email, affiliation, organizer in (
        Participant.objects.filter(call_id__in=ids)
        .order_by("call_id", "-organizer", "name")
        .values_list("call_id", "name", "email", "affiliation", "organizer")
    ):
        people.setdefault(call_id, []).append(
            ParticipantOut(name=name, email=email, affiliation=affiliation, organizer=organizer)
        )
    labels: dict[uuid.UUID, dict[str, str]] = {}
    for call_id, category, option in CallLabel.objects.filter(call_id__in=ids).values_list(
        "call_id", "category__name", "option__value"
    ):
        labels.setdefault(call_id, {})[category] = option
    by_id: dict[uuid.UUID, CallSummary] = {}
    for r in rows:
        owner = User(first_name=r["owner__first_name"], last_name=r["owner__last_name"], email=r["owner__email"])
        by_id[r["id"]] = CallSummary(
            id=str(r["id"]),
            title=r["title"],
            started_at=r["started_at"].isoformat(),
            duration_s=r["duration_s"],
            owner=PersonRef(id=str(r["owner_id"]), name=owner.full_name, email=r["owner__email"]),
            team=Ref(id=str(r["team_id"]), name=r["team__name"]) if r["team_id"] else None,
            participants=people.get(r["id"], []),
            labels=labels.get(r["id"], {}),
            deal=Ref(id=str(r["deal_id"]), name=r["deal__name"]) if r["deal_id"] else None,
            private=r["private"],
            archived=r["archived"],
            url=_call_url(r["id"]),
            matches=matches.get(r["id"], []),
        )
    return [by_id[pk] for pk in ids if pk in by_id]


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
    # A call re-scored keeps its older results; the details show the latest one per scorecard (as summaries count).
    latest = ScorecardResult.objects.filter(call_id=OuterRef("call_id"), scorecard_id=OuterRef("scorecard_id"))
    results = (
        ScorecardResult.objects.filter(call=call)
        .exclude(
            Exists(
                latest.filter(
                    Q(created_at__gt=OuterRef("created_at"))
                    | Q(created_at=OuterRef("created_at"), id__gt=OuterRef("id"))
                )
            )
        )
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


# --- call writes, labels and snippets: what their tools return -------------------------------------


def call_summary(*, actor: Actor, call_id: uuid.UUID | str) -> CallSummary:
    """One visible call, archived or not, in search_calls' shape (what update_call and archive_call return)."""
    visible = calls_visible_to(actor=actor, include_archived=True).filter(pk=parse_id("call", call_id))
    call = _with_relations(visible).first()
    if call is None:
        raise NotFound("call", call_id)
    return CallSummary(**_summary_fields(call))


def call_labels(*, actor: Actor, call_id: uuid.UUID | str) -> CallLabels:
    """The labels of one visible call, by category name."""
    call = access_call(actor=actor, call_id=call_id)
    rows = CallLabel.objects.filter(call=call).select_related("category", "option").order_by("category__name")
    return CallLabels(
        call_id=str(call.pk),
        title=call.title,
        url=_call_url(call.pk),
        labels=[
            AppliedLabel(
                label_id=str(cl.category_id),
                label=cl.category.name,
                option_id=str(cl.option_id),
                option=cl.option.value,
            )
            for cl in rows
        ],
    )


def labels_of_org(*, actor: Actor) -> QuerySet[LabelCategory]:
    """Every label category of the actor's organisation: labels are org-wide configuration, readable by everyone."""
    return LabelCategory.objects.filter(org_id=actor.org_id)


def access_label_by_key(*, actor: Actor, key: str) -> LabelCategory:
    """A category of the actor's organisation by id or by name (exact, else the only case-insensitive match)."""
    key = key.strip()
    labels = labels_of_org(actor=actor)
    try:
        by_id = labels.filter(pk=uuid.UUID(key)).first()
    except ValueError:
        by_id = None
    if by_id is not None:
        return by_id
    exact = labels.filter(name=key).first()
    if exact is not None:
        return exact
    loose = list(labels.filter(name__iexact=key)[:2])
    if len(loose) == 1:
        return loose[0]
    raise NotFound("label", key[:100])


def _labels_with_relations(qs: QuerySet[LabelCategory]) -> QuerySet[LabelCategory]:
    return qs.prefetch_related(
        Prefetch("options", queryset=LabelOption.objects.order_by("position", "value")),
        Prefetch("teams", queryset=Team.objects.order_by("name")),
    )


def label_out(label: LabelCategory) -> LabelOut:
    """A category with its options and teams (prefetched by _labels_with_relations, or queried here)."""
    return LabelOut(
        id=str(label.pk),
        label=label.name,
        description=label.description,
        ai_flow=label.ai_flow,
        all_teams=label.all_teams,
        teams=[Ref(id=str(t.pk), name=t.name) for t in label.teams.all()],
        options=[LabelOptionOut(id=str(o.pk), value=o.value, description=o.description) for o in label.options.all()],
        created_at=label.created_at.isoformat(),
    )


def label_detail(*, actor: Actor, label_id: uuid.UUID | str) -> LabelOut:
    label = _labels_with_relations(labels_of_org(actor=actor).filter(pk=parse_id("label", label_id))).first()
    if label is None:
        raise NotFound("label", label_id)
    return label_out(label)


def labels_page(
    *,
    actor: Actor,
    team_id: uuid.UUID | str | None = None,
    label: str | None = None,
    ai_flow: bool | None = None,
    page_size: int = 20,
    cursor: str | None = None,
) -> LabelPage:
    """The organisation's label categories by name, with options; team_id keeps those that apply to that team
    (labels of all teams, of that team, or of a team above it: a team's labels apply to its sub-teams)."""
    qs = labels_of_org(actor=actor)
    if team_id is not None:
        team = access_team(actor=actor, team_id=team_id)
        # A subquery rather than a join: no duplicate rows, whatever the teams of an all-teams label say.
        above = team_path_and_above(team.path)
        limited = LabelCategory.objects.filter(org_id=actor.org_id, teams__path__in=above).values("pk")
        qs = qs.filter(Q(all_teams=True) | Q(pk__in=limited))
    text = " ".join((label or "").split())
    if text:
        qs = qs.filter(name__icontains=text)
    if ai_flow is not None:
        qs = qs.filter(ai_flow=ai_flow)
    position = decode_text_id_cursor(cursor, kind="labels", text_key="n")
    if position is not None:
        name, after_id = position
        qs = qs.filter(Q(name__gt=name) | Q(name=name, id__gt=after_id))
    page = list(_labels_with_relations(qs.order_by("name", "id"))[: page_size + 1])
    more = len(page) > page_size
    page = page[:page_size]
    next_cursor = encode_cursor({"k": "labels", "n": page[-1].name, "i": str(page[-1].pk)}) if more else None
    return LabelPage(labels=[label_out(c) for c in page], next_cursor=next_cursor)


def snippet_url(snippet_id: uuid.UUID) -> str:
    return f"{settings.WEB_APP_BASE_URL}/snippets/{snippet_id}"


def snippet_out(snippet: Snippet) -> SnippetOut:
    owner = snippet.owner
    return SnippetOut(
        id=str(snippet.pk),
        title=snippet.title,
        url=snippet_url(snippet.pk),
        share_code=snippet.share_code,
        call_id=str(snippet.call_id),
        call_title=snippet.call.title,
        owner=PersonRef(id=str(owner.pk), name=owner.full_name, email=owner.email),
        start_time=snippet.start_s,
        end_time=snippet.end_s,
        notes=snippet.notes,
        internal=snippet.internal,
        notify_views=snippet.notify_views,
        in_library=snippet.in_library,
        library_folder_path=snippet.library_folder_path,
        my_library=snippet.my_library,
        created_at=snippet.created_at.isoformat(),
    )


def snippet_detail(*, actor: Actor, snippet_id: uuid.UUID | str) -> SnippetOut:
    return snippet_out(access_snippet(actor=actor, snippet_id=snippet_id))


def snippets_page(
    *,
    actor: Actor,
    conversation_id: uuid.UUID | str | None = None,
    owner_id: uuid.UUID | str | None = None,
    page_size: int = 20,
    cursor: str | None = None,
) -> SnippetPage:
    """Snippets on the calls the actor can see (archived calls included, as access_snippet), newest first."""
    visible = calls_visible_to(actor=actor, include_archived=True)
    qs = Snippet.objects.filter(call__in=visible.values("pk"))
    if conversation_id is not None:
        qs = qs.filter(call_id=access_call(actor=actor, call_id=conversation_id).pk)
    if owner_id is not None:
        qs = qs.filter(owner_id=access_user(actor=actor, user_id=owner_id).pk)
    position = decode_time_id_cursor(cursor, kind="snippets", time_key="c")
    if position is not None:
        at, after_id = position
        qs = qs.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=after_id))
    page = list(qs.select_related("call", "owner").order_by("-created_at", "-id")[: page_size + 1])
    more = len(page) > page_size
    page = page[:page_size]
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = encode_cursor({"k": "snippets", "c": last.created_at.isoformat(), "i": str(last.pk)})
    return SnippetPage(snippets=[snippet_out(s) for s in page], next_cursor=next_cursor)
