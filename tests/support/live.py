"""A real Daphne serving the project over HTTP, against the test database, for end-to-end tests.

Tests that use `live_server_url` must also use `transactional_db` so that what
they write is committed and visible to the server process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _database_url() -> str:
    """The test database pytest-django created, as a URL for the child process."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "postgres"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


def start_daphne(port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start Daphne; stderr goes to a temporary file (read it with `server_log`) so a chatty server never blocks."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server, closed with the process)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "attention_mcp.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited: {server_log(proc)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                _logs[proc.pid] = log
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("daphne did not start within 20 s")


_logs: dict[int, Any] = {}


def stop_daphne(proc: subprocess.Popen[bytes]) -> None:
    """Terminate politely, then kill; the log stays readable with `server_log`."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def server_log(proc: subprocess.Popen[bytes]) -> str:
    """Everything the server wrote to stderr so far."""
    log = _logs.get(proc.pid)
    if log is None:
        return ""
    log.seek(0)
    return bytes(log.read()).decode(errors="replace")


@pytest.fixture(scope="session")
def live_server_url(django_db_setup: None, django_db_blocker: object) -> Iterator[str]:
    """One Daphne for the whole session; PUBLIC_BASE_URL is its own address, so tokens it mints verify."""
    port = free_port()
    proc = start_daphne(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_daphne(proc)


@pytest.fixture
def live_mcp_url(live_server_url: str, settings: object, transactional_db: None) -> str:
    """The live server's /mcp URL, with this process's settings pointed at the same public URL,
    so that API keys minted here carry the issuer and audience the server expects."""
    settings.PUBLIC_BASE_URL = live_server_url  # type: ignore[attr-defined]
    settings.MCP_RESOURCE_URL = f"{live_server_url}/mcp"  # type: ignore[attr-defined]
    return f"{live_server_url}/mcp"
