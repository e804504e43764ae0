"""Run the MCP `tools/call` benchmark matrix in one go and print a markdown report.

Every target is an ASGI app served by Daphne or uvicorn, pinned to one core
(`taskset -c SERVER_CPU`, default 1); wrk is pinned to another (default 0) and
drives it over loopback with `benchmarks/wrk/mcp_tools_call.lua`. All servers
of a run are started up front on free loopback ports, probed, warmed up, and
then measured in interleaved rounds (repeat 1 of every target, then repeat 2,
...), so slow drift on a shared machine hits every target alike; the report
quotes medians across repeats and the ratios the issue sets targets for.

Server CPU per request = (utime + stime of the server process, from
/proc/<pid>/stat, after minus before one wrk run) / requests wrk completed.

    .venv/bin/python benchmarks/run.py --duration 8 --repeats 3

The `ours-*` targets need `BENCH_TOKEN` (an org-level API key) plus whatever
the project itself needs (`DATABASE_URL`, `REDIS_URL`) in the environment;
without a token, or when a probe `tools/call get_me` does not come back as a
200 tool result, they are reported as pending and skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
LUA_SCRIPT = BENCH / "wrk" / "mcp_tools_call.lua"
VENV_BIN = ROOT / ".venv" / "bin"

VERSIONS = ("2025-11-25", "2026-07-28")
MODERN_VERSIONS = frozenset({"2026-07-28"})
ANY_VERSION = "any"
CLK_TCK = os.sysconf("SC_CLK_TCK")

ServerKind = Literal["daphne", "uvicorn"]
Family = Literal["bare", "sdk", "ours"]

# Targets from the issue, as ratios measured in the same run and protocol version.
RATIO_TARGETS: list[tuple[str, str, float]] = [
    ("ours-daphne", "sdk-daphne", 1.5),
    ("ours-daphne", "bare-daphne", 0.5),
    ("ours-uvicorn", "sdk-uvicorn", 1.5),
]


@dataclass(frozen=True)
class Target:
    name: str
    family: Family
    server: ServerKind
    app: str
    tool: str
    tool_args: str
    path: str = "/mcp"
    needs_token: bool = False

    @property
    def versioned(self) -> bool:
        return self.family != "bare"


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("bare-daphne", "bare", "daphne", "benchmarks.servers.bare:app", "echo", '{"text":"hello"}'),
        Target("bare-uvicorn", "bare", "uvicorn", "benchmarks.servers.bare:app", "echo", '{"text":"hello"}'),
        Target("sdk-daphne", "sdk", "daphne", "benchmarks.servers.sdk_reference:app", "echo", '{"text":"hello"}'),
        Target("sdk-uvicorn", "sdk", "uvicorn", "benchmarks.servers.sdk_reference:app", "echo", '{"text":"hello"}'),
        Target("ours-daphne", "ours", "daphne", "attention_mcp.asgi:application", "get_me", "{}", needs_token=True),
        Target("ours-uvicorn", "ours", "uvicorn", "attention_mcp.asgi:application", "get_me", "{}", needs_token=True),
    ]
}


@dataclass
class RunResult:
    """One wrk run against one target at one version and concurrency."""

    repeat: int
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    cpu_ms_per_req: float
    server_cpu_util: float
    client_cpu_util: float
    other_load_server_core: float
    errors: int
    attempts: int
    error_detail: dict[str, Any]


@dataclass
class Cell:
    """A (target, version, concurrency) cell of the matrix and its runs."""

    target: str
    version: str
    concurrency: int
    runs: list[RunResult] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(float(getattr(r, attr)) for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)


@dataclass
class Server:
    target: Target
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    cmd: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.target.path}"


class SkipTarget(Exception):
    """The target's server did not come up (reported, not fatal)."""


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads, alive or exited), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def core_busy_seconds(cpu: int) -> float:
    """Non-idle time of one CPU (user+nice+system+irq+softirq+steal), from /proc/stat, in seconds."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            v = [int(x) for x in line.split()[1:]]
            idle = v[3] + v[4]  # idle + iowait
            return (sum(v[:8]) - idle) / CLK_TCK
    return float("nan")


def children_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def mcp_env(target: Target, version: str, token: str) -> dict[str, str]:
    return {
        "MCP_PROTOCOL_VERSION": version,
        "MCP_TOOL": target.tool,
        "MCP_TOOL_ARGS": target.tool_args,
        "MCP_TOKEN": token,
    }


def probe_request(target: Target, version: str, token: str) -> tuple[bytes, dict[str, str]]:
    """Build the same request the Lua script sends (kept in sync by hand)."""
    params: dict[str, Any] = {"name": target.tool, "arguments": json.loads(target.tool_args)}
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": version,
    }
    if version in MODERN_VERSIONS:
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "wrk-bench", "version": "1.0"},
        }
        headers["Mcp-Method"] = "tools/call"
        headers["Mcp-Name"] = target.tool
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    return json.dumps(body).encode(), headers


def probe(server: Server, version: str, token: str, timeout: float = 10.0) -> tuple[int, str]:
    """POST one tools/call; return (status, body). Raises OSError if nothing answers."""
    data, headers = probe_request(server.target, version, token)
    req = urllib.request.Request(server.url, data=data, headers=headers, method="POST")  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return int(resp.status), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode("utf-8", "replace")


def probe_ok(status: int, body: str) -> bool:
    if status != 200:
        return False
    try:
        msg = json.loads(body)
    except ValueError:
        return False
    result = msg.get("result") if isinstance(msg, dict) else None
    return isinstance(result, dict) and "content" in result and result.get("isError") is not True


def server_command(target: Target, port: int, cpu: int, daphne_verbosity: int) -> list[str]:
    if target.server == "daphne":
        cmd = [str(VENV_BIN / "daphne"), "-v", str(daphne_verbosity), "-b", "127.0.0.1", "-p", str(port), target.app]
    else:
        cmd = [
            str(VENV_BIN / "uvicorn"),
            target.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    return ["taskset", "-c", str(cpu), *cmd]


def start_server(target: Target, cpu: int, daphne_verbosity: int, log_dir: Path) -> Server:
    port = free_port()
    cmd = server_command(target, port, cpu, daphne_verbosity)
    log_path = log_dir / f"{target.name}.log"
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if target.family == "ours":
        # The rate limiter stays in the measured path, with limits no run can reach (one key, thousands rps).
        for window in ("SECOND", "HOUR", "DAY"):
            env.setdefault(f"RATE_LIMIT_PER_{window}", str(10**9))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killed as a whole in stop_server
        )
    return Server(target, port, proc, log_path, cmd)


def stop_server(server: Server, grace: float = 5.0) -> None:
    """SIGTERM the server's process group, then SIGKILL it after `grace` seconds."""
    if server.proc.poll() is not None:
        return
    pgid = server.proc.pid  # start_new_session: pgid == pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        server.proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        server.proc.wait(timeout=grace)


def log_tail(path: Path, lines: int = 8) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def wait_ready(server: Server, version: str, token: str, timeout: float) -> tuple[int, str]:
    """Wait until the server answers a probe; return its (status, body)."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SkipTarget(f"server exited with {server.proc.returncode}: {log_tail(server.log_path)}")
        try:
            return probe(server, version, token, timeout=max(1.0, deadline - time.monotonic()))
        except OSError as exc:
            last_exc = exc
            time.sleep(0.2)
    raise SkipTarget(f"server did not answer within {timeout:.0f}s ({last_exc}): {log_tail(server.log_path)}")


WRK_LINE = re.compile(r"^WRK_RESULT (\{.*\})\s*$", re.MULTILINE)


def run_wrk(
    server: Server,
    version: str,
    token: str,
    *,
    concurrency: int,
    duration: int,
    threads: int,
    client_cpu: int,
    server_cpu: int,
    timeout_s: float,
) -> dict[str, Any]:
    """One bounded wrk run; returns the WRK_RESULT json plus the server/client CPU seconds it used."""
    cmd = [
        "taskset",
        "-c",
        str(client_cpu),
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{duration}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(LUA_SCRIPT),
        server.url,
    ]
    env = {**os.environ, **mcp_env(server.target, version, token)}
    cpu0 = proc_cpu_seconds(server.proc.pid)
    core0 = core_busy_seconds(server_cpu)
    child0 = children_cpu_seconds()
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=env, capture_output=True, timeout=duration + 60, check=False, cwd=ROOT)
    wall = time.monotonic() - t0
    cpu1 = proc_cpu_seconds(server.proc.pid)
    core1 = core_busy_seconds(server_cpu)
    child1 = children_cpu_seconds()
    stdout = out.stdout.decode("utf-8", "replace")
    match = WRK_LINE.search(stdout)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (exit {out.returncode}): {stdout}\n{out.stderr.decode(errors='replace')}")
    data: dict[str, Any] = json.loads(match.group(1))
    data["server_cpu_s"] = cpu1 - cpu0
    data["client_cpu_s"] = child1 - child0
    # Busy time on the server's core not accounted to the server process: other
    # tenants of a shared machine (plus kernel network work): a noise indicator.
    data["other_on_server_core_s"] = max(0.0, (core1 - core0) - (cpu1 - cpu0))
    data["wall_s"] = wall
    return data


def to_run(repeat: int, data: dict[str, Any]) -> RunResult:
    requests = int(data["requests"])
    duration_s = data["duration_us"] / 1e6
    sock = data["socket_errors"]
    socket_errors = sock["connect"] + sock["read"] + sock["write"] + sock["timeout"]
    errors = socket_errors + data["non200"] + data["rpc_errors"] + data["tool_errors"]
    # Requests whose response never came back still cost the server CPU, but
    # they are not "completed"; a run with errors is flagged anyway.
    return RunResult(
        repeat=repeat,
        requests=requests,
        duration_s=duration_s,
        rps=requests / duration_s if duration_s else 0.0,
        p50_ms=data["latency_us"]["p50"] / 1000,
        p99_ms=data["latency_us"]["p99"] / 1000,
        server_cpu_s=data["server_cpu_s"],
        cpu_ms_per_req=1000 * data["server_cpu_s"] / requests if requests else float("nan"),
        server_cpu_util=data["server_cpu_s"] / data["wall_s"],
        client_cpu_util=data["client_cpu_s"] / data["wall_s"],
        other_load_server_core=data["other_on_server_core_s"] / data["wall_s"],
        errors=errors,
        attempts=1,
        error_detail={
            "socket": sock,
            "non200": data["non200"],
            "rpc_errors": data["rpc_errors"],
            "tool_errors": data["tool_errors"],
            "checked_responses": data["checked_responses"],
            "first_bad": data["first_bad"],
        },
    )


# --------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wrk_version = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["wrk", "--version"], capture_output=True, timeout=10, check=False)
        wrk_version = (out.stdout or out.stderr).decode(errors="replace").splitlines()[0].strip()
    versions: dict[str, str] = {}
    from importlib import metadata

    for pkg in ("mcp", "daphne", "twisted", "uvicorn", "starlette", "django", "channels", "uvloop", "httptools"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version,
        "packages": versions,
    }


def exact_command() -> str:
    exe = Path(sys.executable)
    with contextlib.suppress(ValueError):
        exe = exe.relative_to(ROOT) if exe.is_absolute() else exe
    argv0 = Path(sys.argv[0])
    with contextlib.suppress(ValueError):
        argv0 = argv0.resolve().relative_to(ROOT)
    return shlex.join([str(exe), str(argv0), *sys.argv[1:]])


def fmt(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN check


def render_report(
    command: str,
    machine: dict[str, Any],
    args: argparse.Namespace,
    cells: list[Cell],
    skipped: dict[str, str],
    started: str,
) -> str:
    lines: list[str] = []
    lines.append(f"Command: `{command}`")
    lines.append("")
    lines.append(
        f"Started {started}; {machine['nproc']} CPUs ({machine['cpu_model']}), kernel {machine['kernel']}, "
        f"Python {machine['python']}, {machine['wrk']}; server pinned to CPU {args.server_cpu}, "
        f"wrk to CPU {args.client_cpu} ({args.threads} thread(s)); {args.duration:g} s per run, "
        f"{args.repeats} repeats (medians shown), warm-up {args.warmup:g} s, a run with other load "
        f"> {args.max_other_load * 100:.0f}% on the server core retried up to {args.noise_retries}x. "
        "Background load before the run (busy fraction over 2 s): "
        + ", ".join(f"{k} {v * 100:.0f}%" for k, v in machine.get("idle_load_before", {}).items())
        + "."
    )
    pk = machine["packages"]
    lines.append(
        "Packages: " + ", ".join(f"{k} {v}" for k, v in pk.items()) + "; "
        f"daphne runs with `-v {args.daphne_verbosity}`, uvicorn with `--no-access-log --log-level warning`."
    )
    lines.append("")
    lines.append(
        "| target | version | conc. | rps | rps min-max | p50 ms | p99 ms | CPU ms/req | capacity rps "
        "| server CPU | other load | wrk CPU | errors |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cell in cells:
        if not cell.runs:
            continue
        rps = [r.rps for r in cell.runs]
        errors = str(cell.errors) if cell.errors == 0 else f"**{cell.errors} INVALID**"
        lines.append(
            f"| {cell.target} | {cell.version} | {cell.concurrency} | {cell.median('rps'):.0f} | "
            f"{min(rps):.0f}-{max(rps):.0f} | {fmt(cell.median('p50_ms'))} | {fmt(cell.median('p99_ms'))} | "
            f"{fmt(cell.median('cpu_ms_per_req'), 3)} | {1000 / cell.median('cpu_ms_per_req'):.0f} | "
            f"{cell.median('server_cpu_util') * 100:.0f}% | "
            f"{cell.median('other_load_server_core') * 100:.0f}% | "
            f"{cell.median('client_cpu_util') * 100:.0f}% | {errors} |"
        )
    for name, reason in skipped.items():
        status = reason.split(":", 1)[0]
        detail = " ".join(reason.split()).replace("|", "/")
        lines.append(f"| {name} | - | - | {status} | | | | | | | | | {detail} |")
    lines.append("")

    ratio_lines = render_ratios(cells, args)
    if ratio_lines:
        lines.extend(ratio_lines)
    else:
        lines.append("Ratios vs targets: not computed (`ours-*` was not measured in this run).")
    lines.append("")
    for cell in cells:
        for run in cell.runs:
            if run.errors:
                lines.append(
                    f"- errors in {cell.target} {cell.version} c={cell.concurrency} repeat {run.repeat}: "
                    f"{json.dumps(run.error_detail)}"
                )
    return "\n".join(lines).rstrip() + "\n"


def find_cell(cells: list[Cell], target: str, version: str, concurrency: int) -> Cell | None:
    for cell in cells:
        if (
            cell.target == target
            and cell.concurrency == concurrency
            and cell.runs
            and cell.version in (version, ANY_VERSION)
        ):
            return cell
    return None


def render_ratios(cells: list[Cell], args: argparse.Namespace) -> list[str]:
    rows: list[str] = []
    for num, den, goal in RATIO_TARGETS:
        for version in args.versions:
            for conc in args.concurrency:
                a = find_cell(cells, num, version, conc)
                b = find_cell(cells, den, version, conc)
                if a is None or b is None:
                    continue
                rps_ratio = a.median("rps") / b.median("rps")
                cap_ratio = b.median("cpu_ms_per_req") / a.median("cpu_ms_per_req")
                if a.errors or b.errors:
                    verdict = "INVALID (errors)"
                else:
                    verdict = (
                        f"rps {'PASS' if rps_ratio >= goal else 'FAIL'}, "
                        f"capacity {'PASS' if cap_ratio >= goal else 'FAIL'}"
                    )
                rows.append(
                    f"| {num} / {den} | {version} | {conc} | {rps_ratio:.2f}x | {cap_ratio:.2f}x | >= {goal:g}x | "
                    f"{verdict} |"
                )
    if not rows:
        return []
    return [
        "Ratios, same run and protocol version. rps ratio = median rps / median rps; capacity ratio = "
        "denominator CPU ms/req / numerator CPU ms/req (requests per second of one saturated core: "
        "the figure that other load on a shared machine disturbs least).",
        "",
        "| ratio | version | conc. | rps ratio | capacity ratio | target | verdict |",
        "|---|---|---:|---:|---:|---:|---|",
        *rows,
    ]


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    p.add_argument("--versions", nargs="+", default=list(VERSIONS), help="protocol versions (bare ignores them)")
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (wrk takes whole seconds)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--warmup", type=int, default=2, help="seconds of wrk warm-up per target and version (0: none)")
    p.add_argument("--server-cpu", type=int, default=1)
    p.add_argument("--client-cpu", type=int, default=0)
    p.add_argument("--wrk-timeout", type=float, default=5.0, help="wrk per-request timeout, seconds")
    p.add_argument("--startup-timeout", type=float, default=30.0)
    p.add_argument(
        "--max-other-load",
        type=float,
        default=0.2,
        help="retry a run when more than this fraction of the server core went to other processes",
    )
    p.add_argument("--noise-retries", type=int, default=1, help="retries per run for --max-other-load (0: none)")
    p.add_argument("--daphne-verbosity", type=int, default=0, help="daphne -v (0: no access log, warnings only)")
    p.add_argument("--out", type=Path, default=None, help="JSON results (default benchmarks/results/<UTC>.json)")
    p.add_argument("--report", type=Path, default=None, help="also write the markdown report here")
    args = p.parse_args(argv)
    if not 1 <= args.duration <= 600:
        p.error("--duration must be 1..600 seconds")
    if not 0 <= args.warmup <= 60:
        p.error("--warmup must be 0..60 seconds")
    if not 0 <= args.noise_retries <= 5:
        p.error("--noise-retries must be 0..5")
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = exact_command()
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        print("wrk and taskset are required: run benchmarks/setup.sh", file=sys.stderr)
        return 2
    out_path: Path = args.out or BENCH / "results" / f"{started.replace(':', '')}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out_path.parent / f"{out_path.stem}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    token = os.environ.get("BENCH_TOKEN", "")
    machine = machine_info()
    # Load already on the machine before anything of ours runs (shared machine).
    busy0 = [core_busy_seconds(args.server_cpu), core_busy_seconds(args.client_cpu)]
    time.sleep(2)
    busy1 = [core_busy_seconds(args.server_cpu), core_busy_seconds(args.client_cpu)]
    machine["idle_load_before"] = {
        f"cpu{args.server_cpu} (server)": round((busy1[0] - busy0[0]) / 2, 2),
        f"cpu{args.client_cpu} (wrk)": round((busy1[1] - busy0[1]) / 2, 2),
    }

    targets = [TARGETS[name] for name in args.targets]
    skipped: dict[str, str] = {}
    servers: dict[str, Server] = {}
    cells: list[Cell] = []
    measured_versions: dict[str, list[str]] = {}
    failed = False

    def say(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    try:
        # Start every server first, probe each at every version it will be measured at.
        for target in targets:
            if target.needs_token and not token:
                skipped[target.name] = "pending: no BENCH_TOKEN (or /mcp not implemented yet)"
                say(f"{target.name}: skipped, {skipped[target.name]}")
                continue
            server = start_server(target, args.server_cpu, args.daphne_verbosity, log_dir)
            servers[target.name] = server
            say(f"{target.name}: started pid {server.proc.pid} on port {server.port}: {shlex.join(server.cmd)}")
            # Versions that answered the probe with a tool result; "any" for bare.
            good: list[str] = []
            try:
                wire_versions = args.versions if target.versioned else [args.versions[0]]
                first_status, first_body = wait_ready(server, wire_versions[0], token, args.startup_timeout)
                for i, version in enumerate(wire_versions):
                    status, body = (first_status, first_body) if i == 0 else probe(server, version, token)
                    if probe_ok(status, body):
                        good.append(version if target.versioned else ANY_VERSION)
                        continue
                    label = f"{target.name}@{version}" if target.versioned else target.name
                    problem = f"probe at {version} got {status}: {' '.join(body[:300].split())}"
                    if target.family == "ours":
                        skipped[label] = f"pending: /mcp not implemented yet or not working ({problem})"
                    else:
                        skipped[label] = f"FAILED: {problem}"
                        failed = True
                    say(f"{label}: skipped, {skipped[label]}")
            except SkipTarget as exc:
                if target.family == "ours":
                    skipped[target.name] = f"pending: server did not start ({exc})"
                else:
                    skipped[target.name] = f"FAILED: {exc}"
                    failed = True
                say(f"{target.name}: skipped, {skipped[target.name]}")
            if good:
                measured_versions[target.name] = good
            else:
                stop_server(server)
                del servers[target.name]

        # Build the matrix and warm every (server, version) up once.
        for target in targets:
            server_or_none = servers.get(target.name)
            if server_or_none is None:
                continue
            for version in measured_versions[target.name]:
                wire_version = version if version != ANY_VERSION else args.versions[0]
                if args.warmup > 0:
                    run_wrk(
                        server_or_none,
                        wire_version,
                        token,
                        concurrency=max(args.concurrency),
                        duration=args.warmup,
                        threads=args.threads,
                        client_cpu=args.client_cpu,
                        server_cpu=args.server_cpu,
                        timeout_s=args.wrk_timeout,
                    )
                for conc in args.concurrency:
                    cells.append(Cell(target.name, version, conc))
        say(f"warm-up done; {len(cells)} cells x {args.repeats} repeats x {args.duration:g} s")

        # Interleaved repeats.
        for repeat in range(1, args.repeats + 1):
            for cell in cells:
                server = servers[cell.target]
                wire_version = cell.version if cell.version != ANY_VERSION else args.versions[0]
                if server.proc.poll() is not None:
                    raise RuntimeError(f"{cell.target} died: {log_tail(server.log_path)}")
                # A run disturbed by other load on the server's core is retried
                # (bounded); the least disturbed attempt is kept.
                run: RunResult | None = None
                for attempt in range(1, args.noise_retries + 2):
                    data = run_wrk(
                        server,
                        wire_version,
                        token,
                        concurrency=cell.concurrency,
                        duration=args.duration,
                        threads=args.threads,
                        client_cpu=args.client_cpu,
                        server_cpu=args.server_cpu,
                        timeout_s=args.wrk_timeout,
                    )
                    candidate = to_run(repeat, data)
                    candidate.attempts = attempt
                    if run is None or candidate.other_load_server_core < run.other_load_server_core:
                        run = candidate
                    if run.other_load_server_core <= args.max_other_load:
                        break
                    say(
                        f"r{repeat} {cell.target} {cell.version} c={cell.concurrency}: other load "
                        f"{candidate.other_load_server_core * 100:.0f}% > {args.max_other_load * 100:.0f}%"
                        + (", retrying" if attempt <= args.noise_retries else ", keeping the least disturbed")
                    )
                assert run is not None
                cell.runs.append(run)
                say(
                    f"r{repeat} {cell.target} {cell.version} c={cell.concurrency}: {run.rps:.0f} rps, "
                    f"p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms, {run.cpu_ms_per_req:.3f} ms CPU/req, "
                    f"server CPU {run.server_cpu_util * 100:.0f}%, other load {run.other_load_server_core * 100:.0f}%, "
                    f"errors {run.errors}"
                )
                if run.errors:
                    failed = True
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        # Report what was measured so far; the run as a whole counts as failed.
        say(f"aborted: {exc}")
        skipped["(run)"] = f"ABORTED: {str(exc)[:300]}"
        failed = True
    finally:
        for server in servers.values():
            stop_server(server)

    report = render_report(command, machine, args, cells, skipped, started)
    result = {
        "command": command,
        "started": started,
        "machine": machine,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "servers": {name: {"cmd": s.cmd, "port": s.port} for name, s in servers.items()},
        "skipped": skipped,
        "cells": [
            {
                "target": c.target,
                "version": c.version,
                "concurrency": c.concurrency,
                "median": {
                    k: c.median(k)
                    for k in (
                        "rps",
                        "p50_ms",
                        "p99_ms",
                        "cpu_ms_per_req",
                        "server_cpu_util",
                        "other_load_server_core",
                        "client_cpu_util",
                    )
                },
                "errors": c.errors,
                "runs": [asdict(r) for r in c.runs],
            }
            for c in cells
            if c.runs
        ],
        "report_markdown": report,
    }
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    if args.report:
        args.report.write_text(report)
    print(report)
    print(f"(raw results: {out_path.relative_to(ROOT) if out_path.is_relative_to(ROOT) else out_path})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
