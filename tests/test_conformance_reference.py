"""The official MCP conformance suite against the SDK's reference servers, through the auth proxy.

This proves the harness (Node 22 + pinned suite, the bearer-adding proxy, result parsing) and keeps
``tests/conformance_expected_failures.json`` honest before the same pieces are pointed at our own /mcp:

- every name in the expected-failures file is a real scenario of the pinned suite;
- against both reference servers (``tests/support/sdk_reference_server.py``), every scenario at every spec
  version we negotiate passes unless the file excuses it;
- against the tools-only reference (our product's shape) every entry of the file does fail somewhere,
  so the file lists exactly what a spec-correct tools-only server cannot pass.

Skipped only when Node >= 22 or the suite cannot be installed (no npm registry).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.auth_proxy import AuthProxy
from tests.support.conformance import (
    REPO_ROOT,
    SPEC_VERSIONS,
    ConformanceUnavailable,
    Toolchain,
    ensure_toolchain,
    evaluate,
    list_scenarios,
    load_expected_failures,
    run_conformance,
    split_entry,
)

pytestmark = pytest.mark.live

REFERENCE_TOKEN = "reference-token"
REFERENCE_APPS = {
    "sdk-mcpserver": "tests.support.sdk_reference_server:app",
    "sdk-tools-only": "tests.support.sdk_reference_server:tools_only_app",
}
# The tools-only reference has our product's shape: everything the baseline excuses must really fail there.
STRICT_BASELINE_SERVER = "sdk-tools-only"


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    try:
        return ensure_toolchain()
    except ConformanceUnavailable as exc:
        print(f"conformance suite unavailable: {exc}", file=sys.stderr)
        pytest.skip(f"Node >= 22 / MCP conformance suite could not be installed: {exc}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@contextlib.contextmanager
def uvicorn_server(app: str, log_file: Path) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port in a subprocess; yields its base URL."""
    for _attempt in range(3):
        port = _free_port()
        with log_file.open("ab") as log:
            proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)),
                    *("--log-level", "warning", "--no-access-log"),
                ],
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline and not _accepts(port):
                time.sleep(0.1)
            if proc.poll() is None and _accepts(port):
                yield f"http://127.0.0.1:{port}"
                return
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
    pytest.fail(f"{app} did not start listening; log:\n{log_file.read_text(errors='replace')[-3000:]}")


def _table(verdicts: dict[tuple[str, str], str]) -> str:
    return "\n".join(f"{version}  {verdict:10}  {scenario}" for (version, scenario), verdict in verdicts.items())


def test_expected_failures_name_real_scenarios(toolchain: Toolchain) -> None:
    known = list_scenarios(None)
    expected = load_expected_failures()
    assert expected, "the expected-failures file is empty"
    unknown = [entry for entry in expected if split_entry(entry)[0] not in known]
    assert not unknown, f"not scenarios of the pinned suite (typo or renamed?): {unknown}"


@pytest.mark.parametrize("server", list(REFERENCE_APPS))
def test_reference_server_conformance(toolchain: Toolchain, server: str, tmp_path: Path) -> None:
    expected = load_expected_failures()
    started = time.monotonic()
    with (
        uvicorn_server(REFERENCE_APPS[server], tmp_path / "server.log") as upstream,
        AuthProxy(upstream, REFERENCE_TOKEN) as proxy,
    ):
        results = {
            version: run_conformance(
                f"{proxy.url}/mcp", None, spec_version=version, timeout=120, output_dir=tmp_path / "results"
            )
            for version in SPEC_VERSIONS
        }
    elapsed = time.monotonic() - started
    report = evaluate(results, expected)
    print(f"{server}: {len(report.verdicts)} scenario runs in {elapsed:.1f}s\n{_table(report.verdicts)}")

    for version, by_scenario in results.items():
        assert set(by_scenario) == set(list_scenarios(version)), f"{version}: not every applicable scenario ran"

    if report.warnings:
        print(f"{server}: " + report.describe(stale=False, warnings=True))
    strict = server == STRICT_BASELINE_SERVER
    assert not report.unexpected, report.describe(stale=strict) + f"\n(raw results under {tmp_path / 'results'})"

    # A per-check entry must name a check the scenario really emits (guards against renamed check ids).
    emitted = {(s, c.id) for by_scenario in results.values() for s, r in by_scenario.items() for c in r.checks}
    ran = {s for by_scenario in results.values() for s in by_scenario}
    renamed = [
        entry
        for entry in expected
        if (parts := split_entry(entry))[1] is not None and parts[0] in ran and parts not in emitted
    ]
    assert not renamed, f"expected-failure checks that the suite no longer emits: {renamed}"

    if strict:
        assert not report.stale, (
            "these expected failures pass against the tools-only reference server, so they are not failures "
            f"a tools-only server must have; remove or move them: {report.stale}"
        )
    elif report.stale:
        print(f"{server}: baseline entries that pass here (fine for this server): {report.stale}")
