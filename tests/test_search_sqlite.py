"""search_calls on SQLite, the embedded default (`make run` without DATABASE_URL): the core cases of
tests/test_search_core.py run again in a subprocess whose settings pick SQLite, so the FTS5 tables and
triggers of migration 0003 are what answers, with the same expected results as on PostgreSQL.

A subprocess because settings choose the database once per process, from the environment
(attention_mcp/settings.py: no DATABASE_URL means SQLite under VAR_DIR). pytest-django then creates its
SQLite test database and runs every migration on it, FTS5 tables and triggers included.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def test_the_core_search_cases_pass_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    report = tmp_path / "vendor"
    env |= {"VAR_DIR": str(tmp_path / "var"), "SEARCH_VENDOR_REPORT": str(report)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/test_search_core.py"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = run.stdout[-6000:] + run.stderr[-3000:]
    assert run.returncode == 0, output
    summary = re.search(r"(\d+) passed", run.stdout)
    assert summary is not None, output
    assert int(summary.group(1)) >= 40, output
    assert not re.search(r"\d+ (failed|skipped|error)", run.stdout), output
    assert report.read_text() == "sqlite"
