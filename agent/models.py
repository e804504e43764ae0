"""The super agent's job table: one row per user message the agent must answer.

Sessions and messages live in calls/models.py (SuperAgentSession, SuperAgentMessage). A job is the
durable hand-off between the request that asked (send_super_agent_message) and whichever worker runs
the agent: an in-process thread pool or `manage.py run_agent_worker`, in any process sharing the
database. Workers claim jobs atomically and keep a heartbeat; a job whose heartbeat goes stale (its
worker died) is claimed again.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from calls.models import SuperAgentMessage, SuperAgentSession


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
FINAL_STATES = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class AgentJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(SuperAgentSession, on_delete=models.CASCADE, related_name="agent_jobs")
    question = models.ForeignKey(SuperAgentMessage, on_delete=models.CASCADE, related_name="+")
    # The assistant message that closed the job: the answer, or the note saying it failed or was cancelled.
    answer = models.ForeignKey(SuperAgentMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Who asked, and with which credential kind and scopes: the worker rebuilds the Actor from these
    # when the job runs, so a deactivation or a role change in between counts, and scopes never grow.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    via = models.CharField(max_length=16)
    scopes = models.JSONField(default=list)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # For operators: why the job failed (never shown to the model, never a secret).
    error = models.CharField(max_length=500, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "created_at"], name="agent_job_state_created")]
        constraints = [
            # One message in progress per session, enforced by the database even for two concurrent sends.
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(state__in=["queued", "running"]),
                name="agent_job_one_active_per_session",
            )
        ]

    def __str__(self) -> str:
        return f"{self.state} job {self.pk}"
