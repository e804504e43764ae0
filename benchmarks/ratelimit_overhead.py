"""What the /mcp rate limiter adds: latency (p50, p99) with vs without it, and Redis round trips per request.

Two copies of our server run side by side, identical except for RATE_LIMIT_ENABLED, both on a
private redis-server this script starts (so that no other client's commands are counted), both
pinned to the server CPU with taskset, each driven in turn by wrk (pinned to the client CPU) with
`tools/call get_me` and the org-level key in BENCH_TOKEN. Limits are set far above what the run
can reach, so every request is admitted and fully counted (the limiter's normal path).

Measured in interleaved repeats (off then on, then on then off, ...), medians quoted:

- p50 / p99 latency from wrk, per concurrency; "added" = on - off, from the same repeat round.
  Concurrency 1 shows the latency a single client sees; higher concurrency includes queueing.
- CPU ms per request of the server process (utime + stime), on - off.
- Redis round trips per request, twice: exactly, by sending N requests one by one and reading
  the private Redis's `INFO commandstats` before and after; and over each wrk run (requests wrk
  counted vs commands Redis counted; in-flight requests at the end make this approximate).
  Commands the script runs inside Redis (GET, TIME, HMGET, HSET, PEXPIRE) are not round trips.
- In-process cost of one check (`GatewayLimiter.check_actor`) against the private Redis and the
  in-process backend, in a child process pinned to the server CPU.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/attention_bench \\
    PUBLIC_BASE_URL=http://127.0.0.1:8000 BENCH_TOKEN=<org-level key> \\
    .venv/bin/python benchmarks/ratelimit_overhead.py --duration 5 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import run as bench  # noqa: E402

# Commands the limiter's script runs inside Redis for each check: not round trips.
SCRIPT_INNER = {"get", "time", "hmget", "hset", "pexpire"}
GENEROUS = str(10**9)


# --------------------------------------------------------------------------- a private Redis


class PrivateRedis:
    """redis-server on a free loopback port, nothing on disk; spoken to with raw RESP (no client needed)."""

    def __init__(self) -> None:
        self.port = bench.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", self._dir, "--loglevel", "warning"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.command("PING") == "PONG":
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def command(self, *parts: str) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            payload = f"*{len(parts)}\r\n" + "".join(f"${len(p)}\r\n{p}\r\n" for p in parts)
            sock.sendall(payload.encode())
            data = b""
            while True:
                chunk = sock.recv(65536)
                data += chunk
                if not chunk or self._complete(data):
                    break
        text = data.decode()
        if text.startswith("$"):
            return text.split("\r\n", 1)[1].rsplit("\r\n", 1)[0]
        return text[1:].strip()

    @staticmethod
    def _complete(data: bytes) -> bool:
        if data[:1] in (b"+", b"-", b":"):
            return data.endswith(b"\r\n")
        if data[:1] == b"$":
            header, _, rest = data.partition(b"\r\n")
            return len(rest) >= int(header[1:]) + 2
        return False

    def commandstats(self) -> dict[str, int]:
        """Calls per command since the last CONFIG RESETSTAT."""
        calls: dict[str, int] = {}
        for line in self.command("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_"):
                name, _, stats = line[len("cmdstat_") :].partition(":")
                calls[name] = int(stats.split("calls=", 1)[1].split(",", 1)[0])
        return calls

    def reset_stats(self) -> None:
        self.command("CONFIG", "RESETSTAT")

    def stop(self) -> None:
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)


def round_trips(calls: dict[str, int]) -> int:
    """Commands clients sent (the script's inner commands and our own INFO/CONFIG excluded)."""
    return sum(
        n for name, n in calls.items() if name not in SCRIPT_INNER and name.split("|")[0] not in {"info", "config"}
    )


# --------------------------------------------------------------------------- servers


def start(kind: str, name: str, env: dict[str, str], cpu: int, log_dir: Path) -> bench.Server:
    target = bench.Target(name, "ours", kind, "attention_mcp.asgi:application", "get_me", "{}", needs_token=True)
    port = bench.free_port()
    cmd = bench.server_command(target, port, cpu, 0)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return bench.Server(target, port, proc, log_path, cmd)


def exact_round_trips(server: bench.Server, redis: PrivateRedis, version: str, token: str, n: int) -> dict[str, Any]:
    """Send exactly n requests one by one; count what reached Redis."""
    data, headers = bench.probe_request(server.target, version, token)
    redis.reset_stats()
    ok = 0
    for _ in range(n):
        req = urllib.request.Request(server.url, data=data, headers=headers, method="POST")  # noqa: S310 (loopback)
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (loopback)
            ok += resp.status == 200
    calls = redis.commandstats()
    return {"requests": n, "ok": ok, "round_trips": round_trips(calls), "calls": calls}


# --------------------------------------------------------------------------- in-process cost

MICRO = r"""
import json, os, sys, time, uuid
import django
django.setup()
from accounts.permissions import Actor
from ratelimit.core import CircuitBreaker, MemoryBackend
from ratelimit.gateway import GatewayLimiter, OverrideCache
from ratelimit.limiter import Limiter
from ratelimit.redis_backend import RedisBackend
n = int(sys.argv[1])
actor = Actor.org_wide(uuid.uuid4(), via="org_key")
big = 10**9
out = {}
backends = {
    "redis": RedisBackend(os.environ["REDIS_URL"], prefix="bench-micro", connect_timeout=1, timeout=1,
                          breaker=CircuitBreaker(3, 1)),
    "memory": MemoryBackend(),
}
for name, backend in backends.items():
    gateway = GatewayLimiter(Limiter(backend), OverrideCache((big, big, big), ttl=3600))
    # Warm: script loaded, generation learned, the organisation's (absent) override cached.
    for _ in range(200):
        gateway.check_actor(actor)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        gateway.check_actor(actor)
    out[name] = {"wall_us": (time.perf_counter() - wall0) / n * 1e6, "cpu_us": (time.process_time() - cpu0) / n * 1e6}
print(json.dumps(out))
"""


def micro(redis: PrivateRedis, cpu: int, n: int) -> dict[str, Any]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "attention_mcp.settings", "REDIS_URL": redis.url}
    out = subprocess.run(
        ["taskset", "-c", str(cpu), sys.executable, "-c", MICRO, str(n)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- measuring


@dataclass
class Pair:
    """One (server kind, concurrency) cell: runs with the limiter off and on, by repeat."""

    kind: str
    concurrency: int
    off: list[bench.RunResult] = field(default_factory=list)
    on: list[bench.RunResult] = field(default_factory=list)
    on_round_trips: list[float] = field(default_factory=list)

    def median(self, side: str, attr: str) -> float:
        return statistics.median(float(getattr(r, attr)) for r in getattr(self, side))

    def added(self, attr: str) -> float:
        """Median over repeats of (on - off) within the same repeat round."""
        return statistics.median(
            float(getattr(b, attr)) - float(getattr(a, attr)) for a, b in zip(self.off, self.on, strict=True)
        )


def measure(
    server: bench.Server, redis: PrivateRedis, args: argparse.Namespace, token: str, conc: int, repeat: int
) -> tuple[bench.RunResult, float]:
    """One wrk run (retried once when other load disturbed it): the kept run and its round trips per request."""
    best: tuple[bench.RunResult, float] | None = None
    for attempt in range(1, args.noise_retries + 2):
        redis.reset_stats()
        data = bench.run_wrk(
            server,
            args.version,
            token,
            concurrency=conc,
            duration=args.duration,
            threads=1,
            client_cpu=args.client_cpu,
            server_cpu=args.server_cpu,
            timeout_s=5.0,
        )
        run = bench.to_run(repeat, data)
        run.attempts = attempt
        trips = round_trips(redis.commandstats()) / max(run.requests, 1)
        if best is None or run.other_load_server_core < best[0].other_load_server_core:
            best = (run, trips)
        if best[0].other_load_server_core <= args.max_other_load:
            break
    assert best is not None
    return best


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", nargs="+", choices=["daphne", "uvicorn"], default=["daphne", "uvicorn"])
    p.add_argument("--version", default="2025-11-25", help="protocol version of the tools/call")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--exact-requests", type=int, default=1000, help="requests sent one by one to count round trips")
    p.add_argument("--micro-checks", type=int, default=20000, help="in-process checks timed per backend")
    p.add_argument("--server-cpu", type=int, default=1)
    p.add_argument("--client-cpu", type=int, default=0)
    p.add_argument("--max-other-load", type=float, default=0.2)
    p.add_argument("--noise-retries", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    token = os.environ.get("BENCH_TOKEN", "")
    if not token or not os.environ.get("DATABASE_URL"):
        print("BENCH_TOKEN (an org-level API key) and DATABASE_URL are required", file=sys.stderr)
        return 2
    if shutil.which("wrk") is None or shutil.which("taskset") is None or shutil.which("redis-server") is None:
        print("wrk, taskset and redis-server are required (benchmarks/setup.sh)", file=sys.stderr)
        return 2
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out_path: Path = args.out or bench.BENCH / "results" / f"ratelimit-{started.replace(':', '')}.json"
    log_dir = out_path.parent / f"{out_path.stem}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    machine = bench.machine_info()

    def say(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    redis = PrivateRedis()
    common = {
        "REDIS_URL": redis.url,
        "RATE_LIMIT_PER_SECOND": GENEROUS,
        "RATE_LIMIT_PER_HOUR": GENEROUS,
        "RATE_LIMIT_PER_DAY": GENEROUS,
        "RATE_LIMIT_KEY_PREFIX": f"bench-{started}",
    }
    servers: dict[tuple[str, str], bench.Server] = {}
    pairs = [Pair(kind, conc) for kind in args.servers for conc in args.concurrency]
    exact: dict[str, dict[str, Any]] = {}
    try:
        for kind in args.servers:
            for side, enabled in (("off", "0"), ("on", "1")):
                server = start(
                    kind, f"{kind}-{side}", {**common, "RATE_LIMIT_ENABLED": enabled}, args.server_cpu, log_dir
                )
                servers[(kind, side)] = server
                status, body = bench.wait_ready(server, args.version, token, 30)
                if not bench.probe_ok(status, body):
                    raise RuntimeError(f"{kind}-{side} probe got {status}: {body[:300]}")
                say(f"{kind}-{side}: pid {server.proc.pid} port {server.port}")
        for kind in args.servers:
            for side in ("off", "on"):
                server = servers[(kind, side)]
                # Warm-up first: every worker thread has its Redis connection (HELLO) before counting.
                if args.warmup:
                    bench.run_wrk(
                        server,
                        args.version,
                        token,
                        concurrency=max(args.concurrency),
                        duration=args.warmup,
                        threads=1,
                        client_cpu=args.client_cpu,
                        server_cpu=args.server_cpu,
                        timeout_s=5.0,
                    )
                time.sleep(1)  # requests wrk left in flight finish before counting starts
                exact[f"{kind}-{side}"] = exact_round_trips(server, redis, args.version, token, args.exact_requests)
                say(f"{kind}-{side}: {exact[f'{kind}-{side}']['round_trips']} round trips for {args.exact_requests}")
        for repeat in range(1, args.repeats + 1):
            # Alternate which side goes first, so that drift within a round favours neither.
            sides = ("off", "on") if repeat % 2 else ("on", "off")
            for pair in pairs:
                for side in sides:
                    server = servers[(pair.kind, side)]
                    run, trips = measure(server, redis, args, token, pair.concurrency, repeat)
                    getattr(pair, side).append(run)
                    if side == "on":
                        pair.on_round_trips.append(trips)
                    say(
                        f"r{repeat} {pair.kind}-{side} c={pair.concurrency}: p50 {run.p50_ms:.3f} ms, "
                        f"p99 {run.p99_ms:.2f} ms, {run.cpu_ms_per_req:.3f} ms CPU/req, "
                        f"other load {run.other_load_server_core * 100:.0f}%, errors {run.errors}"
                    )
        micro_result = micro(redis, args.server_cpu, args.micro_checks)
    finally:
        for server in servers.values():
            bench.stop_server(server)
        redis.stop()

    report = render(args, machine, started, pairs, exact, micro_result)
    out_path.write_text(
        json.dumps(
            {
                "command": bench.exact_command(),
                "started": started,
                "machine": machine,
                "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "exact_round_trips": exact,
                "micro": micro_result,
                "pairs": [
                    {
                        "server": p.kind,
                        "concurrency": p.concurrency,
                        "off": [asdict(r) for r in p.off],
                        "on": [asdict(r) for r in p.on],
                        "on_round_trips_per_request": p.on_round_trips,
                    }
                    for p in pairs
                ],
                "report_markdown": report,
            },
            indent=2,
        )
        + "\n"
    )
    print(report)
    print(f"(raw results: {out_path.relative_to(ROOT) if out_path.is_relative_to(ROOT) else out_path})")
    errors = sum(r.errors for p in pairs for r in (*p.off, *p.on))
    return 1 if errors else 0


def render(
    args: argparse.Namespace,
    machine: dict[str, Any],
    started: str,
    pairs: list[Pair],
    exact: dict[str, dict[str, Any]],
    micro_result: dict[str, Any],
) -> str:
    lines = [
        f"Command: `{bench.exact_command()}`",
        "",
        f"Started {started}; {machine['nproc']} CPUs ({machine['cpu_model']}), Python {machine['python']}; "
        f"servers pinned to CPU {args.server_cpu}, wrk to CPU {args.client_cpu}; `tools/call get_me` at "
        f"{args.version}; {args.duration} s per run, {args.repeats} interleaved repeats (off/on, on/off, ...), "
        "medians shown; added = median over repeats of (on - off) in the same round.",
        "",
        "| server | conc. | p50 off | p50 on | **p50 added** | p99 off | p99 on | p99 added | CPU ms/req off | "
        "CPU ms/req on | CPU added | round trips/req (wrk run) | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in pairs:
        errors = sum(r.errors for r in (*p.off, *p.on))
        lines.append(
            f"| {p.kind} | {p.concurrency} | {p.median('off', 'p50_ms'):.3f} | {p.median('on', 'p50_ms'):.3f} | "
            f"**{p.added('p50_ms'):+.3f}** | {p.median('off', 'p99_ms'):.2f} | {p.median('on', 'p99_ms'):.2f} | "
            f"{p.added('p99_ms'):+.2f} | {p.median('off', 'cpu_ms_per_req'):.3f} | "
            f"{p.median('on', 'cpu_ms_per_req'):.3f} | {p.added('cpu_ms_per_req'):+.3f} | "
            f"{statistics.median(p.on_round_trips):.3f} | {errors} |"
        )
    lines += ["", "Redis round trips, exact (requests sent one by one, `INFO commandstats` of the private Redis):", ""]
    lines += [
        "| server | requests | HTTP 200 | round trips | per request | commands seen |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, e in exact.items():
        seen = ", ".join(f"{k} {v}" for k, v in sorted(e["calls"].items()))
        lines.append(
            f"| {name} | {e['requests']} | {e['ok']} | {e['round_trips']} | {e['round_trips'] / e['requests']:.3f} | "
            f"{seen} |"
        )
    lines += [
        "",
        "In-process cost of one check (`GatewayLimiter.check_actor`, warm, pinned to the server CPU): "
        + "; ".join(f"{k}: {v['wall_us']:.1f} µs wall, {v['cpu_us']:.1f} µs CPU" for k, v in micro_result.items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
