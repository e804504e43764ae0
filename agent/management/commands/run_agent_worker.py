"""`manage.py run_agent_worker`: dedicated super agent workers, for deployments that keep them out of Daphne.

Run any number of these next to the web processes (set AGENT_WORKER_THREADS=0 there to leave all jobs to
them, or keep both: jobs are claimed atomically, never twice). Stops after the current jobs on SIGTERM/SIGINT.
"""

from __future__ import annotations

import signal
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from agent.worker import WorkerPool, run_next_job


class Command(BaseCommand):
    help = "Run super agent workers: claim queued agent jobs and answer them, until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--threads", type=int, default=2, help="Worker threads (default 2).")
        parser.add_argument(
            "--once", action="store_true", help="Run the jobs that are waiting now, then exit (for cron or tests)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            worker_id = f"run_agent_worker:once:{uuid.uuid4().hex[:8]}"
            count = 0
            while run_next_job(worker_id=worker_id):
                count += 1
            self.stdout.write(f"run_agent_worker: {count} job(s) run.")
            return
        threads = max(1, int(options["threads"]))
        pool = WorkerPool(threads, name="agent-worker-cmd")

        def stop(signum: int, frame: Any) -> None:
            self.stdout.write("run_agent_worker: stopping after the current jobs...")
            pool.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        pool.start()
        self.stdout.write(f"run_agent_worker: {threads} thread(s) waiting for jobs.")
        pool.join()
