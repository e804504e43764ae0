"""Writes for the super agent: sessions and messages for the person asking, and job transitions for the workers.

The person's side (send, cancel, rename, delete) always goes through `access_session`, so a session is only
ever touched by the person who started it. The worker's side (claim, heartbeat, complete, fail) is keyed by
job and worker id: every transition is a conditional UPDATE that only the current owner of a live job can
make, so a cancelled, deleted or re-claimed job never receives an answer.

Lock order, everywhere: the session row first, then its job row (avoids deadlocks between a cancel and a
worker finishing the same job on PostgreSQL).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import Truncator

from accounts.errors import Conflict, InvalidArgument, NotFound
from accounts.permissions import Actor
from agent import conf
from agent.models import ACTIVE_STATES, FINAL_STATES, AgentJob, JobState
from agent.schemas import CancelResult, DeletedSession, SendResult, SessionOut
from agent.selectors import access_session, job_state, message_out, session_out, session_status
from calls.models import AgentRole, AgentStatus, SuperAgentMessage, SuperAgentSession

logger = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_REASON = 500
# Polling steps while the sender waits: quick at first (short jobs finish in well under a second), then capped.
_FIRST_POLL_S = 0.02
_MAX_POLL_S = 0.25

_SESSION_STATUS = {
    JobState.QUEUED: AgentStatus.PROCESSING,
    JobState.RUNNING: AgentStatus.PROCESSING,
    JobState.DONE: AgentStatus.IDLE,
    JobState.FAILED: AgentStatus.FAILED,
    JobState.CANCELLED: AgentStatus.CANCELLED,
}


# --- the person's side --------------------------------------------------------------------------------------------


def _clean_title(value: str, *, field: str) -> str:
    title = " ".join(value.split())
    if not title:
        raise InvalidArgument(field, f"{field} must not be blank.")
    return Truncator(title).chars(MAX_TITLE)


def check_timezone(name: str) -> str:
    """An IANA time zone name the server knows, else invalid_argument."""
    cleaned = name.strip()
    try:
        ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(
            "timezone", f'Unknown time zone {cleaned[:64]!r}: use an IANA name such as "Europe/Berlin".'
        ) from None
    return cleaned


def _wake_workers() -> None:
    # Imported here: the worker module imports the runner, which imports the tool registry.
    from agent import worker

    worker.kick()


def session_message_send(
    *,
    actor: Actor,
    content: str,
    session_id: uuid.UUID | str | None = None,
    timezone_name: str | None = None,
) -> SendResult:
    """Add the actor's message to a session (a new one when `session_id` is None) and queue the agent's work.

    Any user-level caller, on their own sessions only. Creates the session (titled from the message), the
    user message and a queued job in one transaction; a message while another is in progress is a conflict.
    Then waits up to AGENT_SEND_WAIT_SECONDS for the answer, outside any transaction.
    """
    user_id = actor.require_user()
    text = content.strip()
    if not text:
        raise InvalidArgument("content", "content must not be blank.")
    tz_name = check_timezone(timezone_name) if timezone_name is not None else None
    now = timezone.now()
    with transaction.atomic():
        if session_id is None:
            session = SuperAgentSession.objects.create(
                org_id=actor.org_id,
                user_id=user_id,
                title=_clean_title(text, field="content"),
                status=AgentStatus.PROCESSING,
                tz_name=tz_name or "UTC",
                created_at=now,
                updated_at=now,
            )
        else:
            session = access_session(actor=actor, session_id=session_id, for_update=True)
            if AgentJob.objects.filter(session=session, state__in=ACTIVE_STATES).exists():
                raise Conflict(
                    "The agent is still working on the previous message of this session: wait for it "
                    "(get_super_agent_session_history) or cancel it (cancel_super_agent_processing)."
                )
            session.status = AgentStatus.PROCESSING
            session.updated_at = now
            fields = ["status", "updated_at"]
            if tz_name is not None:
                session.tz_name = tz_name
                fields.append("tz_name")
            session.save(update_fields=fields)
        question = SuperAgentMessage.objects.create(session=session, role=AgentRole.USER, content=text, created_at=now)
        try:
            with transaction.atomic():
                job = AgentJob.objects.create(
                    session=session, question=question, user_id=user_id, via=actor.via, scopes=sorted(actor.scopes)
                )
        except IntegrityError:
            # Another send on this session won the race between our check and our insert.
            raise Conflict("The agent is still working on the previous message of this session.") from None
        transaction.on_commit(_wake_workers)

    state: str | None = job.state
    # Inside a caller's transaction no worker can see the job yet, and waiting would hold the transaction open.
    if not connection.in_atomic_block:
        state = _wait_for_job(job.pk, conf.send_wait_seconds())
    return _send_result(session.pk, job.pk, state)


def _wait_for_job(job_id: uuid.UUID, seconds: float) -> str | None:
    deadline = time.monotonic() + seconds
    step = _FIRST_POLL_S
    while True:
        state = job_state(job_id=job_id)
        if state is None or state in FINAL_STATES:
            return state
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return state
        time.sleep(min(step, remaining))
        step = min(step * 2, _MAX_POLL_S)


def _send_result(session_id: uuid.UUID, job_id: uuid.UUID, state: str | None) -> SendResult:
    if state is None:
        # The session was deleted while we waited.
        raise NotFound("session", session_id)
    if state in ACTIVE_STATES:
        return SendResult(session_id=str(session_id), status="processing", message=None)
    job = AgentJob.objects.select_related("answer").filter(pk=job_id).first()
    message = message_out(job.answer) if job is not None and job.answer is not None else None
    status = {JobState.DONE: "completed", JobState.FAILED: "failed"}.get(JobState(state), "cancelled")
    return SendResult(session_id=str(session_id), status=status, message=message)  # type: ignore[arg-type]


def session_cancel(*, actor: Actor, session_id: uuid.UUID | str, reason: str | None = None) -> CancelResult:
    """Stop the agent's work on the actor's session, if any (a no-op result when nothing is in progress).

    The job is marked cancelled (its worker notices before its next step and stores nothing) and a note
    saying so is added to the history as the assistant's message.
    """
    note_reason = " ".join((reason or "").split())[:MAX_REASON]
    with transaction.atomic():
        session = access_session(actor=actor, session_id=session_id, for_update=True)
        job = AgentJob.objects.select_for_update().filter(session=session, state__in=ACTIVE_STATES).first()
        if job is None:
            return CancelResult(
                session_id=str(session.pk), cancelled=False, status=session_status(session), message=None
            )
        now = timezone.now()
        content = "Cancelled before I finished" + (f": {note_reason}" if note_reason else ".")
        if not content.endswith("."):
            content += "."
        content += " Send a new message to ask again."
        note = SuperAgentMessage.objects.create(session=session, role=AgentRole.ASSISTANT, content=content)
        AgentJob.objects.filter(pk=job.pk).update(
            state=JobState.CANCELLED, finished_at=now, cancel_reason=note_reason, answer=note
        )
        session.status = AgentStatus.CANCELLED
        session.updated_at = now
        session.save(update_fields=["status", "updated_at"])
    return CancelResult(session_id=str(session.pk), cancelled=True, status="cancelled", message=message_out(note))


def session_rename(*, actor: Actor, session_id: uuid.UUID | str, title: str) -> SessionOut:
    """Give one of the actor's sessions a new title (trimmed, at most 200 characters)."""
    clean = _clean_title(title, field="title")
    with transaction.atomic():
        session = access_session(actor=actor, session_id=session_id, for_update=True)
        session.title = clean
        session.save(update_fields=["title"])
    return session_out(session)


def session_delete(*, actor: Actor, session_id: uuid.UUID | str) -> DeletedSession:
    """Delete one of the actor's sessions with its messages and jobs (a job in progress stops, storing nothing)."""
    with transaction.atomic():
        session = access_session(actor=actor, session_id=session_id, for_update=True)
        messages = SuperAgentMessage.objects.filter(session=session).count()
        pk = session.pk
        session.delete()
    return DeletedSession(session_id=str(pk), messages_deleted=messages)


# --- the worker's side -------------------------------------------------------------------------------------------


def _claimable(now: Any) -> Q:
    stale = now - timedelta(seconds=conf.stale_after_seconds())
    return Q(state=JobState.QUEUED) | Q(state=JobState.RUNNING, heartbeat_at__lt=stale)


def job_claim(*, worker_id: str) -> AgentJob | None:
    """Claim the oldest queued job, or a running one whose worker stopped beating; None when there is none.

    Called by workers only. PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so concurrent workers never wait
    for each other. Elsewhere (SQLite): a conditional UPDATE that only one worker can win.
    """
    now = timezone.now()
    claimed = {
        "state": JobState.RUNNING,
        "worker": worker_id[:200],
        "heartbeat_at": now,
        "attempts": F("attempts") + 1,
        "started_at": Coalesce("started_at", now),
    }
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            job = (
                AgentJob.objects.select_for_update(skip_locked=True)
                .filter(_claimable(now))
                .order_by("created_at")
                .first()
            )
            if job is None:
                return None
            AgentJob.objects.filter(pk=job.pk).update(**claimed)
        return AgentJob.objects.get(pk=job.pk)
    candidates = list(AgentJob.objects.filter(_claimable(now)).order_by("created_at").values_list("pk", flat=True)[:5])
    for pk in candidates:
        if AgentJob.objects.filter(_claimable(now), pk=pk).update(**claimed) == 1:
            return AgentJob.objects.get(pk=pk)
    return None


def job_heartbeat(*, job_id: uuid.UUID, worker_id: str) -> bool:
    """Record that the worker is alive; False when the job is no longer its to run (cancelled, deleted, taken)."""
    return (
        AgentJob.objects.filter(pk=job_id, state=JobState.RUNNING, worker=worker_id[:200]).update(
            heartbeat_at=timezone.now()
        )
        == 1
    )


def _finish(
    *, job_id: uuid.UUID, worker_id: str, state: JobState, content: str, references: list[dict[str, Any]], error: str
) -> bool:
    with transaction.atomic():
        session_id = AgentJob.objects.filter(pk=job_id).values_list("session_id", flat=True).first()
        if session_id is None:
            return False
        session = SuperAgentSession.objects.select_for_update().filter(pk=session_id).first()
        if session is None:
            return False
        now = timezone.now()
        won = AgentJob.objects.filter(pk=job_id, state=JobState.RUNNING, worker=worker_id[:200]).update(
            state=state, finished_at=now, error=error[:500]
        )
        if not won:
            return False
        answer = SuperAgentMessage.objects.create(
            session=session, role=AgentRole.ASSISTANT, content=content, references=references, created_at=now
        )
        AgentJob.objects.filter(pk=job_id).update(answer=answer)
        session.status = _SESSION_STATUS[state]
        session.updated_at = now
        session.save(update_fields=["status", "updated_at"])
    return True


def job_complete(*, job_id: uuid.UUID, worker_id: str, content: str, references: list[dict[str, Any]]) -> bool:
    """Store the agent's answer, if the job is still this worker's to finish; False (nothing stored) otherwise."""
    return _finish(
        job_id=job_id, worker_id=worker_id, state=JobState.DONE, content=content, references=references, error=""
    )


def job_fail(*, job_id: uuid.UUID, worker_id: str, content: str, error: str) -> bool:
    """End the job as failed with a note for the person (`content`) and one for operators (`error`)."""
    return _finish(
        job_id=job_id, worker_id=worker_id, state=JobState.FAILED, content=content, references=[], error=error
    )
