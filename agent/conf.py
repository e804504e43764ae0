"""The super agent's knobs, read from Django settings at the moment they are needed (so tests can override them).

- AGENT_SEND_WAIT_SECONDS (15): how long send_super_agent_message waits for the answer before it returns
  status "processing"; 0 returns at once.
- AGENT_WORKER_THREADS (2): threads of the in-process worker pool, started lazily by the first message a
  process accepts; 0 leaves jobs to dedicated `manage.py run_agent_worker` processes.
- AGENT_JOB_STALE_SECONDS (120): a running job whose heartbeat is older than this lost its worker and is
  claimed again.
- AGENT_JOB_MAX_ATTEMPTS (3): after this many claims a job is failed rather than run again.
- AGENT_IDLE_POLL_SECONDS (2): how often an idle worker looks for jobs queued by other processes.
"""

from __future__ import annotations

from django.conf import settings


def _number(name: str, default: float, minimum: float) -> float:
    value = getattr(settings, name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return max(minimum, number)


def send_wait_seconds() -> float:
    return _number("AGENT_SEND_WAIT_SECONDS", 15.0, 0.0)


def worker_threads() -> int:
    return int(_number("AGENT_WORKER_THREADS", 2, 0))


def stale_after_seconds() -> float:
    return _number("AGENT_JOB_STALE_SECONDS", 120.0, 1.0)


def max_attempts() -> int:
    return int(_number("AGENT_JOB_MAX_ATTEMPTS", 3, 1))


def idle_poll_seconds() -> float:
    return _number("AGENT_IDLE_POLL_SECONDS", 2.0, 0.05)
