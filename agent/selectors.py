"""Reads for the super agent: a person's own sessions and their history, and job progress for the waiting sender.

Sessions are private to the person who started them: not their manager, not an admin, not an org key. Another
person's session (or another organisation's) is NotFound, exactly like a missing one.
"""

from __future__ import annotations

import uuid
from typing import Any, get_args

from django.db import connection
from django.db.models import Count, Q, QuerySet

from accounts.errors import NotFound, parse_id
from accounts.permissions import ALL_SCOPES, Actor, Via
from accounts.selectors import actor_for_user
from agent.models import AgentJob
from agent.schemas import MessageOut, Reference, SessionHistory, SessionList, SessionOut, SessionStatus
from attention_mcp.pagination import decode_time_id_cursor, encode_cursor
from calls.models import AgentRole, AgentStatus, SuperAgentMessage, SuperAgentSession
from calls.selectors import calls_visible_to


def sessions_of(*, actor: Actor) -> QuerySet[SuperAgentSession]:
    """The actor's own sessions (user-level credentials only: others get user_required)."""
    user_id = actor.require_user()
    return SuperAgentSession.objects.filter(org_id=actor.org_id, user_id=user_id, user__deactivated_at__isnull=True)


def access_session(*, actor: Actor, session_id: uuid.UUID | str, for_update: bool = False) -> SuperAgentSession:
    """One of the actor's sessions; NotFound alike for missing, another person's and another organisation's.

    `for_update` locks the session row (inside the caller's transaction) so that writes to one session queue up.
    """
    qs = sessions_of(actor=actor).filter(pk=parse_id("session", session_id))
    if for_update:
        qs = qs.select_for_update(of=("self",))
    session = qs.first()
    if session is None:
        raise NotFound("session", session_id)
    return session


def session_status(session: SuperAgentSession) -> SessionStatus:
    return _status(session.status)


def _status(value: str) -> SessionStatus:
    if value == AgentStatus.PROCESSING:
        return "processing"
    if value == AgentStatus.CANCELLED:
        return "cancelled"
    if value == AgentStatus.FAILED:
        return "failed"
    return "idle"


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _references(raw: Any) -> list[Reference]:
    """Stored references, read defensively: rows written by older code or by hand must not break the history."""
    out: list[Reference] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or not item.get("call_id"):
            continue
        start = item.get("start_s")
        out.append(
            Reference(
                call_id=str(item["call_id"]),
                title=str(item.get("title") or ""),
                start_s=float(start) if isinstance(start, int | float) and not isinstance(start, bool) else None,
            )
        )
    return out


def message_out(message: SuperAgentMessage, visible: set[str] | None = None) -> MessageOut:
    """`visible`: the call ids the reader may see now; references to any other call are left out."""
    references = _references(message.references) if message.role == AgentRole.ASSISTANT else []
    if visible is not None:
        references = [r for r in references if r.call_id in visible]
    return MessageOut(
        id=str(message.pk),
        role="assistant" if message.role == AgentRole.ASSISTANT else "user",
        content=message.content,
        references=references,
        created_at=message.created_at.isoformat(),
    )


def session_out(session: SuperAgentSession, message_count: int | None = None) -> SessionOut:
    if message_count is None:
        message_count = session.messages.count()
    return SessionOut(
        id=str(session.pk),
        title=session.title,
        status=_status(session.status),
        timezone=session.tz_name,
        message_count=message_count,
        created_at=session.created_at.isoformat(),
        updated_at=session.updated_at.isoformat(),
    )


def session_list(*, actor: Actor, title: str | None = None, limit: int = 20, cursor: str | None = None) -> SessionList:
    """The actor's sessions, most recently active first, optionally those whose title contains `title`."""
    qs = sessions_of(actor=actor)
    words = " ".join((title or "").split())
    if words:
        qs = qs.filter(title__icontains=words)
    position = decode_time_id_cursor(cursor, kind="agent_sessions", time_key="u")
    if position is not None:
        at, after_id = position
        qs = qs.filter(Q(updated_at__lt=at) | Q(updated_at=at, id__lt=after_id))
    page = list(qs.annotate(n_messages=Count("messages")).order_by("-updated_at", "-id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    next_cursor = None
    if more and page:
        last = page[-1]
        next_cursor = encode_cursor({"k": "agent_sessions", "u": last.updated_at.isoformat(), "i": str(last.pk)})
    return SessionList(
        sessions=[session_out(s, message_count=s.n_messages) for s in page],
        next_cursor=next_cursor,
    )


def session_history(
    *, actor: Actor, session_id: uuid.UUID | str, page_size: int = 20, cursor: str | None = None
) -> SessionHistory:
    """A page of one of the actor's sessions. Pages run backwards in time so that the first one, which a
    polling client reads, always holds the latest messages; each page lists its messages oldest first."""
    session = access_session(actor=actor, session_id=session_id)
    kind = f"agent_history:{session.pk}"
    qs = SuperAgentMessage.objects.filter(session=session)
    position = decode_time_id_cursor(cursor, kind=kind, time_key="c")
    if position is not None:
        at, before_id = position
        qs = qs.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=before_id))
    newest_first = list(qs.order_by("-created_at", "-id")[: page_size + 1])
    more = len(newest_first) > page_size
    newest_first = newest_first[:page_size]
    next_cursor = None
    if more and newest_first:
        oldest = newest_first[-1]
        next_cursor = encode_cursor({"k": kind, "c": oldest.created_at.isoformat(), "i": str(oldest.pk)})
    if position is None:
        last_role = newest_first[0].role if newest_first else None
    else:
        last_role = (
            SuperAgentMessage.objects.filter(session=session)
            .order_by("-created_at", "-id")
            .values_list("role", flat=True)
            .first()
        )
    # References were right when the answer was written; a call made private or archived-and-hidden since,
    # or a role lost, must not stay reachable through an old answer.
    cited = {r.call_id for m in newest_first for r in _references(m.references)}
    visible = {
        str(pk)
        for pk in calls_visible_to(actor=actor, include_archived=True)
        .filter(pk__in=[parse_id("call", c) for c in cited if _is_uuid(c)])
        .values_list("pk", flat=True)
    }
    status = _status(session.status)
    if status == "processing" and not connection.in_atomic_block:
        # A poller keeps the work going: after a restart this process may be the only one left with workers.
        from agent import worker

        worker.kick()
    return SessionHistory(
        session_id=str(session.pk),
        title=session.title,
        status=status,
        done=status != "processing" and last_role != AgentRole.USER,
        messages=[message_out(m, visible) for m in reversed(newest_first)],
        next_cursor=next_cursor,
    )


def job_state(*, job_id: uuid.UUID) -> str | None:
    """The state of one job (None once its session is deleted); for the sender, who has already been authorised."""
    return AgentJob.objects.filter(pk=job_id).values_list("state", flat=True).first()


def job_actor(*, job: AgentJob) -> Actor | None:
    """The asker's Actor as of now, with the scopes they had when asking and never more; None when they may no
    longer act (deactivated, or no longer in the session's organisation)."""
    user = job.user
    if not user.is_active or user.org_id != job.session.org_id:
        return None
    via: Via = job.via if job.via in get_args(Via) else "oauth"  # type: ignore[assignment]
    scopes = frozenset(s for s in job.scopes if isinstance(s, str)) & ALL_SCOPES
    return actor_for_user(user=user, via=via, scopes=scopes)
