"""Running super agent jobs: one job end to end, and the thread pool that keeps claiming them.

Why a database-backed job and a thread pool rather than Channels workers: `make run` must work with SQLite
and no Redis (the channel layer would need Redis, or be process-local and lose jobs), and /mcp is stateless
across several Daphne processes. The job row is the hand-off; any process may run it. Each process that
accepts a message starts a small pool lazily (AGENT_WORKER_THREADS, 0 to disable), and
`manage.py run_agent_worker` runs dedicated workers. Idle workers also look every few seconds for jobs queued
elsewhere or left behind by a dead worker (stale heartbeat).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from agent import conf
from agent.models import AgentJob
from agent.runner import Agent, JobStopped
from agent.selectors import job_actor
from agent.services import job_claim, job_complete, job_fail, job_heartbeat
from calls.models import AgentRole, SuperAgentMessage

logger = logging.getLogger(__name__)

FAILED_NOTE = "Something went wrong while I worked on this, so I have no answer. Please try again."
INACTIVE_NOTE = "I did not work on this: the account that asked may no longer use the agent."
GAVE_UP_NOTE = "I could not finish this: my work was interrupted several times. Please ask again."


def _previous_references(job: AgentJob) -> list[dict[str, Any]]:
    """The calls of the session's last answer before this question, for follow-ups ("those calls")."""
    last = (
        SuperAgentMessage.objects.filter(
            session_id=job.session_id, role=AgentRole.ASSISTANT, created_at__lt=job.question.created_at
        )
        .order_by("-created_at")
        .values_list("references", flat=True)
        .first()
    )
    return [r for r in last if isinstance(r, dict)] if isinstance(last, list) else []


def execute_job(*, job_id: uuid.UUID, worker_id: str) -> None:
    """Run one claimed job with the asker's own actor and store the answer, unless it was stopped meanwhile."""
    job = AgentJob.objects.select_related("session", "question", "user").filter(pk=job_id).first()
    if job is None:
        return
    if job.attempts > conf.max_attempts():
        job_fail(job_id=job_id, worker_id=worker_id, content=GAVE_UP_NOTE, error="too many attempts")
        return
    actor = job_actor(job=job)
    if actor is None:
        job_fail(job_id=job_id, worker_id=worker_id, content=INACTIVE_NOTE, error="asker no longer active")
        return

    def checkpoint() -> None:
        if not job_heartbeat(job_id=job_id, worker_id=worker_id):
            raise JobStopped

    try:
        answer = Agent(actor=actor, checkpoint=checkpoint).answer(
            question=job.question.content, tz_name=job.session.tz_name, previous=_previous_references(job)
        )
    except JobStopped:
        logger.info("super agent job %s stopped (cancelled, deleted or taken over)", job_id)
        return
    except Exception as exc:
        logger.exception("super agent job %s failed", job_id)
        job_fail(job_id=job_id, worker_id=worker_id, content=FAILED_NOTE, error=type(exc).__name__)
        return
    job_complete(job_id=job_id, worker_id=worker_id, content=answer.content, references=answer.references)


def run_next_job(*, worker_id: str) -> bool:
    """Claim and run one job; False when there was none to claim."""
    job = job_claim(worker_id=worker_id)
    if job is None:
        return False
    execute_job(job_id=job.pk, worker_id=worker_id)
    return True


def _drop_broken_connection() -> None:
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.errors_occurred:
        if conn.connection is not None and not conn.is_usable():
            conn.close()
        conn.errors_occurred = False


class WorkerPool:
    """Threads that claim and run jobs until stopped. Each keeps its database connection open while it lives."""

    def __init__(self, threads: int, *, name: str = "agent-worker") -> None:
        self.size = max(0, threads)
        self.name = name
        self._wake = threading.Semaphore(0)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> None:
        with self._lock:
            if self._threads or self.size == 0:
                return
            self._stopping.clear()
            for n in range(self.size):
                thread = threading.Thread(target=self._loop, name=f"{self.name}-{n}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def wake(self) -> None:
        self._wake.release()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every thread to stop after its current job, and wait for them."""
        with self._lock:
            threads, self._threads = self._threads, []
            self._stopping.set()
            for _ in threads:
                self._wake.release()
        for thread in threads:
            thread.join(timeout)

    def join(self) -> None:
        for thread in list(self._threads):
            thread.join()

    def _loop(self) -> None:
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}:{uuid.uuid4().hex[:8]}"
        try:
            while not self._stopping.is_set():
                try:
                    ran = run_next_job(worker_id=worker_id)
                except Exception:
                    logger.exception("super agent worker %s: claiming or running a job failed", worker_id)
                    ran = False
                finally:
                    _drop_broken_connection()
                if not ran:
                    self._wake.acquire(timeout=conf.idle_poll_seconds())
        finally:
            connections.close_all()


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def kick() -> None:
    """Make sure this process's pool runs (if enabled) and tell it there is work."""
    global _pool
    threads = conf.worker_threads()
    if threads <= 0:
        return
    with _pool_lock:
        if _pool is None or not _pool.running:
            _pool = WorkerPool(threads)
            _pool.start()
        pool = _pool
    pool.wake()


def stop_pool(timeout: float = 30.0) -> None:
    """Stop this process's in-process pool (tests; shutdown)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.stop(timeout)
