"""Run the official MCP conformance suite (``@modelcontextprotocol/conformance``) and read its results.

The suite is a Node >= 22 CLI that ``scripts/node22.sh`` installs under ``var/``. It acts as an MCP client
against a server URL, one *scenario* at a time; each scenario emits *checks* (``SUCCESS``, ``FAILURE``,
``WARNING``, ``INFO``, ``SKIPPED``). A scenario passes when none of its checks is a ``FAILURE`` (the CLI's own
rule). With ``-o DIR`` the CLI writes ``DIR/server-<scenario>-<timestamp>/checks.json`` per scenario, which
is what this module parses.

Scenarios run at a protocol revision's wire (``--spec-version``): up to 2025-11-25 with the ``initialize``
handshake, at 2026-07-28 stateless with per-request ``_meta``. A scenario that applies to several revisions
must run under each, so :func:`run_conformance` takes a ``spec_version`` and :data:`SPEC_VERSIONS` lists the
ones our server negotiates.

Expected failures (``tests/conformance_expected_failures.json``) are entries ``"<scenario>"`` (the whole
scenario may fail) or ``"<scenario>:<check-id>"`` (only that check may fail), the same syntax as the CLI's
own ``--expected-failures`` baseline. :func:`evaluate` applies them. Unlike the CLI's baseline mode (which
counts ``WARNING`` checks as failures), ``WARNING``s are reported but never fail a scenario here.

By hand, against a server behind the auth proxy::

    .venv/bin/python -m tests.support.conformance --url http://127.0.0.1:8765/mcp [--spec-version V]...

Typical use against a running server (through :class:`tests.support.auth_proxy.AuthProxy`)::

    results = {v: run_conformance(proxy.url + "/mcp", None, spec_version=v) for v in SPEC_VERSIONS}
    report = evaluate(results, load_expected_failures())
    assert not report.unexpected, report.describe()
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE22_SCRIPT = REPO_ROOT / "scripts" / "node22.sh"
EXPECTED_FAILURES_FILE = REPO_ROOT / "tests" / "conformance_expected_failures.json"

# Every protocol revision our server negotiates. 2025-03-26 only has the session-lifecycle scenario.
SPEC_VERSIONS: tuple[str, ...] = ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
LATEST_SPEC_VERSION = SPEC_VERSIONS[-1]

FAILURE = "FAILURE"
WARNING = "WARNING"
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")
_LIST_LINE = re.compile(r"^\s+-\s+(?P<name>\S+)(?:\s+\[(?P<tags>[^\]]*)\])?\s*$")


class ConformanceUnavailable(RuntimeError):
    """Node >= 22 or the conformance suite could not be installed (see the message for why)."""


class ConformanceError(RuntimeError):
    """The conformance CLI failed to run or produced no readable results."""


@dataclass(frozen=True)
class Toolchain:
    node: Path
    cli: Path

    def command(self, *args: str) -> list[str]:
        return [str(self.node), str(self.cli), *args]


@dataclass(frozen=True)
class Check:
    id: str
    status: str
    description: str
    error: str | None = None
    details: Any = None


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    spec_version: str
    passed: bool
    checks: tuple[Check, ...]

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAILURE]

    @property
    def warning_checks(self) -> list[Check]:
        """Checks that found a SHOULD-level problem; they do not fail the scenario (the CLI's rule too)."""
        return [c for c in self.checks if c.status == WARNING]

    @property
    def details(self) -> str:
        """One line per failing check (``id: message``), or a short pass summary."""
        if not self.checks:
            return "no checks reported"
        if self.passed:
            counts: dict[str, int] = {}
            for c in self.checks:
                counts[c.status] = counts.get(c.status, 0) + 1
            return "passed (" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")"
        return "\n".join(f"{c.id}: {c.error or c.description}" for c in self.failed_checks)


# -- toolchain ------------------------------------------------------------------------------------------------


@functools.cache
def ensure_toolchain(timeout: float = 600) -> Toolchain:
    """Install (if needed) Node 22 and the pinned suite via ``scripts/node22.sh``; cached per process.

    Raises :class:`ConformanceUnavailable` with the script's explanation when that is impossible.
    """
    try:
        proc = subprocess.run(
            ["bash", str(NODE22_SCRIPT)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConformanceUnavailable(f"{NODE22_SCRIPT.name} did not complete: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ConformanceUnavailable(f"{NODE22_SCRIPT.name} exited {proc.returncode}:\n{tail}")
    paths = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    try:
        toolchain = Toolchain(node=Path(paths["node"]), cli=Path(paths["conformance"]))
    except KeyError as exc:
        raise ConformanceUnavailable(f"{NODE22_SCRIPT.name} printed no {exc.args[0]}= line") from exc
    if not toolchain.node.is_file() or not toolchain.cli.is_file():
        raise ConformanceUnavailable(f"{NODE22_SCRIPT.name} printed paths that do not exist: {toolchain}")
    return toolchain


def suite_version() -> str:
    toolchain = ensure_toolchain()
    proc = subprocess.run(toolchain.command("--version"), capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout.strip()


@functools.cache
def list_scenarios(spec_version: str | None = None) -> dict[str, tuple[str, ...]]:
    """Server scenario names (in suite order) with their tags (revisions, or ``extension``).

    With ``spec_version``, only the scenarios that apply at that revision (what ``--suite all`` runs there).
    """
    args = ["list", "--server"]
    if spec_version:
        args += ["--spec-version", spec_version]
    proc = subprocess.run(ensure_toolchain().command(*args), capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise ConformanceError(f"conformance {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    scenarios: dict[str, tuple[str, ...]] = {}
    for line in proc.stdout.splitlines():
        match = _LIST_LINE.match(line)
        if match:
            tags = match.group("tags") or ""
            scenarios[match.group("name")] = tuple(t.strip() for t in tags.split(",") if t.strip())
    if not scenarios:
        raise ConformanceError(f"conformance {' '.join(args)} listed no scenarios:\n{proc.stdout}")
    return scenarios


# -- running --------------------------------------------------------------------------------------------------


def run_conformance(
    url: str,
    scenarios: Sequence[str] | None = None,
    *,
    spec_version: str = LATEST_SPEC_VERSION,
    timeout: float = 300,
    scenario_timeout_ms: int | None = None,
    output_dir: Path | None = None,
) -> dict[str, ScenarioResult]:
    """Run server scenarios against ``url`` (the MCP endpoint, e.g. ``http://127.0.0.1:PORT/mcp``).

    ``scenarios=None`` runs every scenario that applies at ``spec_version`` (``--suite all``: pending ones
    included, protocol extensions such as ``tasks-*`` not). A list runs those scenarios one by one, skipping
    the ones that do not apply at ``spec_version``; an unknown name raises ``ValueError``.

    Returns ``{scenario: ScenarioResult}`` with ``.passed`` and ``.details``. ``timeout`` bounds the whole
    run in seconds; raw results (``checks.json`` per scenario and the CLI's output) go to ``output_dir``
    when given, else to a temporary directory that is removed.
    """
    toolchain = ensure_toolchain()
    applicable = list_scenarios(spec_version)
    if scenarios is not None:
        known = list_scenarios(None)
        unknown = [s for s in scenarios if s not in known]
        if unknown:
            raise ValueError(f"unknown conformance scenario(s): {', '.join(unknown)}")
    common = ["--url", url, "--spec-version", spec_version]
    if scenario_timeout_ms is not None:
        common += ["--timeout", str(scenario_timeout_ms)]
    invocations: list[tuple[str, list[str]]] = (
        [("all", ["server", *common, "--suite", "all"])]
        if scenarios is None
        else [(s, ["server", *common, "--scenario", s]) for s in scenarios if s in applicable]
    )

    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        base = Path(output_dir) if output_dir is not None else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        results: dict[str, ScenarioResult] = {}
        for label, args in invocations:
            out = base / f"{spec_version}-{label}"
            _run_cli(toolchain, [*args, "-o", str(out)], out, timeout)
            results.update(parse_results_dir(out, spec_version))
        expected = set(applicable) if scenarios is None else {s for s in scenarios if s in applicable}
        for missing in sorted(expected - set(results)):
            results[missing] = ScenarioResult(
                missing,
                spec_version,
                passed=False,
                checks=(Check("no-result", FAILURE, "scenario wrote no checks.json", "no result"),),
            )
        return results


def _run_cli(toolchain: Toolchain, args: list[str], out: Path, timeout: float) -> None:
    if out.exists():  # results of an earlier run into the same output_dir
        shutil.rmtree(out)
    out.mkdir(parents=True)
    try:
        proc = subprocess.run(
            toolchain.command(*args),
            cwd=out,  # anything the CLI writes relative to its cwd stays with the results
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ConformanceError(f"conformance {' '.join(args[:6])} ... timed out after {timeout:.0f}s") from exc
    (out / "cli-output.txt").write_text(proc.stdout + ("\n--- stderr ---\n" + proc.stderr if proc.stderr else ""))
    # Exit status 1 only means "some scenario failed"; a run that wrote nothing is a real error.
    if proc.returncode not in (0, 1) or not any(out.glob("server-*/checks.json")):
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise ConformanceError(f"conformance {' '.join(args[:6])} ... exited {proc.returncode}:\n{tail}")


def parse_results_dir(directory: Path, spec_version: str) -> dict[str, ScenarioResult]:
    """Read ``server-<scenario>-<timestamp>/checks.json`` folders written by ``conformance server -o``."""
    results: dict[str, ScenarioResult] = {}
    for checks_file in sorted(directory.glob("server-*/checks.json")):
        match = _RESULT_DIR.match(checks_file.parent.name)
        if not match:
            continue
        raw = json.loads(checks_file.read_text())
        checks = tuple(
            Check(
                id=str(item.get("id", "?")),
                status=str(item.get("status", "?")),
                description=str(item.get("description", "")),
                error=item.get("errorMessage"),
                details=item.get("details"),
            )
            for item in (raw if isinstance(raw, list) else [])
        )
        scenario = match.group("scenario")
        results[scenario] = ScenarioResult(
            scenario, spec_version, passed=all(c.status != FAILURE for c in checks), checks=checks
        )
    return results


# -- expected failures ----------------------------------------------------------------------------------------


def load_expected_failures(
    path: Path = EXPECTED_FAILURES_FILE, sections: Iterable[str] | None = None
) -> dict[str, str]:
    """``{entry: why}`` from the expected-failures JSON, merging the given sections (default: all of them).

    Sections are the top-level keys whose values are objects (``fixture_only``, ``not_offered``, ...);
    keys starting with ``_`` and plain values (``suite``) are metadata.
    """
    data = json.loads(Path(path).read_text())
    available = {k: v for k, v in data.items() if not k.startswith("_") and isinstance(v, dict)}
    chosen = list(available) if sections is None else list(sections)
    merged: dict[str, str] = {}
    for name in chosen:
        if name not in available:
            raise KeyError(f"{path} has no section {name!r} (has: {', '.join(available)})")
        for entry, why in available[name].items():
            merged[entry] = str(why)
    return merged


def split_entry(entry: str) -> tuple[str, str | None]:
    """``"scenario"`` -> (scenario, None); ``"scenario:check-id"`` -> (scenario, check-id)."""
    scenario, _, check = entry.partition(":")
    return scenario, check or None


@dataclass
class Evaluation:
    """Results judged against expected failures, across one or more spec versions."""

    unexpected: list[str] = field(default_factory=list)  # "version scenario: failing check ids + messages"
    expected: list[str] = field(default_factory=list)  # failures excused by the baseline
    stale: list[str] = field(default_factory=list)  # baseline entries that never failed where they ran
    passed: list[str] = field(default_factory=list)  # "version scenario"
    warnings: list[str] = field(default_factory=list)  # "version scenario: check-id (message)", never fatal
    # (version, scenario) -> "pass" | "xfail" (failed as expected) | "FAIL" (unexpected), in run order
    verdicts: dict[tuple[str, str], str] = field(default_factory=dict)

    def describe(self, *, stale: bool = True, warnings: bool = False) -> str:
        parts = []
        if self.unexpected:
            parts.append("Unexpected conformance failures:\n  " + "\n  ".join(self.unexpected))
        if stale and self.stale:
            parts.append("Expected failures that did not fail (stale entries):\n  " + "\n  ".join(self.stale))
        if warnings and self.warnings:
            parts.append("Warnings (SHOULD-level, not failures):\n  " + "\n  ".join(self.warnings))
        return "\n".join(parts) or f"all {len(self.verdicts)} scenario runs passed or failed as expected"


def evaluate(results: Mapping[str, Mapping[str, ScenarioResult]], expected: Mapping[str, str]) -> Evaluation:
    """Judge ``{spec_version: {scenario: result}}`` against ``{entry: why}`` expected failures.

    A failing scenario is excused when it is listed wholesale, or when every one of its failing checks is
    listed as ``scenario:check-id``. An entry is *stale* when its scenario ran somewhere and it never failed
    (wholesale: the scenario always passed; per check: that check never failed).
    """
    report = Evaluation()
    fired: set[str] = set()
    ran: set[str] = set()
    for version, by_scenario in results.items():
        for scenario, result in by_scenario.items():
            ran.add(scenario)
            report.warnings.extend(
                f"{version} {scenario}: {c.id} ({c.error or c.description})" for c in result.warning_checks
            )
            if result.passed:
                report.passed.append(f"{version} {scenario}")
                report.verdicts[version, scenario] = "pass"
                continue
            if scenario in expected:
                fired.add(scenario)
                report.expected.append(f"{version} {scenario}")
                report.verdicts[version, scenario] = "xfail"
                continue
            unexcused = []
            for check in result.failed_checks:
                entry = f"{scenario}:{check.id}"
                if entry in expected:
                    fired.add(entry)
                else:
                    unexcused.append(f"{check.id} ({check.error or check.description})")
            if unexcused:
                report.unexpected.append(f"{version} {scenario}: " + "; ".join(unexcused))
                report.verdicts[version, scenario] = "FAIL"
            else:
                report.expected.append(f"{version} {scenario}")
                report.verdicts[version, scenario] = "xfail"
    for entry in expected:
        scenario, _ = split_entry(entry)
        if scenario in ran and entry not in fired:
            report.stale.append(entry)
    return report


# -- command line ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.conformance",
        description="Run the MCP conformance suite against a URL and judge it against the expected failures.",
    )
    parser.add_argument("--url", required=True, help="MCP endpoint, e.g. http://127.0.0.1:8765/mcp (the auth proxy)")
    parser.add_argument(
        "--spec-version",
        action="append",
        choices=SPEC_VERSIONS,
        help="revision(s) to run at (repeatable; default: all of %(choices)s)",
    )
    parser.add_argument("--scenario", action="append", help="only these scenarios (repeatable; default: all)")
    parser.add_argument(
        "--sections",
        nargs="*",
        help="expected-failure sections to apply (default: all; none: no baseline)",
    )
    parser.add_argument("--output-dir", type=Path, help="keep raw results (checks.json per scenario) here")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per CLI run (default 300)")
    args = parser.parse_args(argv)

    expected = load_expected_failures(sections=args.sections)
    results = {
        version: run_conformance(
            args.url, args.scenario, spec_version=version, timeout=args.timeout, output_dir=args.output_dir
        )
        for version in args.spec_version or SPEC_VERSIONS
    }
    report = evaluate(results, expected)
    for (version, scenario), verdict in report.verdicts.items():
        print(f"{version}  {verdict:5}  {scenario}")
    print(report.describe(stale=True, warnings=True))
    return 1 if report.unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
