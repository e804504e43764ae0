"""Server-side latency of the catalog's read tools on a 50,000-call PostgreSQL database.

Seeds (or reuses) the database `attention_bench` on the local PostgreSQL with `seed_demo --calls 50000`,
then times in-process `registry.call_tool` (scope check, argument validation, the tool, its selectors and
SQL, the result's serialisation: everything but HTTP and authentication) for:

- search_calls with text queries: competitor names, a word found in most calls ("pricing"), phrases,
  exclusions, alternatives, with and without filters, relevance and date order, a second page, as the admin
  and as a sales rep (whose visibility rules add their subqueries);
- search_calls without a query (listing), for comparison;
- get_call_details (default arguments: text transcript) over many different calls;
- ask_attention over 25 calls, when the tool is registered (skipped with a message otherwise).

Cases run round-robin (one sample of each case per round) so that load from other processes on a shared
machine spreads over all cases alike. Prints p50 / p95 / max per case in milliseconds, and the p50 / p95 of
all text-query searches together; `--write-results` appends the figures to benchmarks/RESULTS.md.

    taskset -c 1 .venv/bin/python benchmarks/catalog_latency.py --rounds 40 --write-results

PostgreSQL itself is not pinned (it is a server process of its own).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "RESULTS.md"


@dataclass
class Case:
    name: str
    tool: str
    actor: str  # "admin" or "rep"
    args: Callable[[int], dict[str, Any]]  # round number -> arguments
    text_query: bool = False
    samples: list[float] = field(default_factory=list)
    errors: int = 0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _prepare_environment(args: argparse.Namespace) -> None:
    os.environ["DATABASE_URL"] = args.database_url or f"postgres://postgres@127.0.0.1:5432/{args.database}"
    os.environ.pop("REDIS_URL", None)  # in-process calls: no rate limiter, no shared cache needed
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="catalog-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attention_mcp.settings")


def _ensure_database(args: argparse.Namespace) -> None:
    if args.database_url:
        return
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.database]).fetchone()
        if not exists:
            # The name is our own argument, checked to be a plain identifier.
            if not args.database.replace("_", "").isalnum():
                raise SystemExit("--database must be letters, digits and _")
            conn.execute(f'CREATE DATABASE "{args.database}"')


def _seed(calls: int) -> str:
    """Migrate, then seed the demo data unless it is there; returns a line saying what happened."""
    from django.core.management import call_command

    from accounts.models import Organization
    from calls.models import Call

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    migrated = time.monotonic() - started
    org = Organization.objects.filter(slug="acme").first()
    if org is not None:
        have = Call.objects.filter(org=org).count()
        return f"reused: {have:,} calls in the demo organisation (migrate {migrated:.1f} s)"
    started = time.monotonic()
    call_command("seed_demo", calls=calls, password=secrets.token_urlsafe(12), verbosity=0)
    return f"seeded now: `seed_demo --calls {calls}` took {time.monotonic() - started:.0f} s (migrate {migrated:.1f} s)"


def _cases(include_ask: bool) -> tuple[list[Case], dict[str, Any]]:
    from django.utils import timezone

    from accounts.models import Organization, Team, User
    from accounts.permissions import ALL_SCOPES
    from accounts.selectors import actor_for_user
    from calls.models import Call
    from calls.selectors import calls_visible_to
    from mcpgateway import registry

    org = Organization.objects.get(slug="acme")
    admin_user = User.objects.get(email="admin@acme.example")
    # The busiest active sales rep: the most calls to filter for visibility.
    rep_user = (
        User.objects.filter(org=org, roles__type="sales_rep", deactivated_at__isnull=True, seat_type="recording")
        .order_by("email")
        .first()
    )
    assert rep_user is not None
    actors = {
        "admin": actor_for_user(user=admin_user, via="oauth", scopes=ALL_SCOPES),
        "rep": actor_for_user(user=rep_user, via="oauth", scopes=ALL_SCOPES),
    }
    emea = Team.objects.get(org=org, name__endswith="] EMEA")
    month_ago = (timezone.now() - dt.timedelta(days=30)).date().isoformat()
    detail_ids = [
        str(pk) for pk in calls_visible_to(actor=actors["admin"]).order_by("?").values_list("pk", flat=True)[:500]
    ]
    ask_ids = [
        str(pk)
        for pk in Call.objects.filter(org=org, archived=False).order_by("-started_at").values_list("pk", flat=True)[:25]
    ]
    spec = registry.tools()["search_calls"]
    first_page = registry.call_tool(spec, actors["admin"], {"query": "pricing"})
    pricing_cursor = first_page["structuredContent"]["next_cursor"]

    def fixed(**args: Any) -> Callable[[int], dict[str, Any]]:
        return lambda _round: args

    cases = [
        Case("Gongly (relevance)", "search_calls", "admin", fixed(query="Gongly"), True),
        Case("Chorus Labs (two words)", "search_calls", "admin", fixed(query="Chorus Labs"), True),
        Case("pricing (in ~86% of calls)", "search_calls", "admin", fixed(query="pricing"), True),
        Case("pricing, page 2", "search_calls", "admin", fixed(query="pricing", cursor=pricing_cursor), True),
        Case('"security review" (phrase)', "search_calls", "admin", fixed(query='"security review"'), True),
        Case("discount -Gongly", "search_calls", "admin", fixed(query="discount -Gongly"), True),
        Case("Revvio or Salesloop", "search_calls", "admin", fixed(query="Revvio or Salesloop"), True),
        Case("SOC 2 report", "search_calls", "admin", fixed(query="SOC 2 report"), True),
        Case("Gongly, date_desc", "search_calls", "admin", fixed(query="Gongly", sort="date_desc"), True),
        Case("pricing, date_desc", "search_calls", "admin", fixed(query="pricing", sort="date_desc"), True),
        Case(
            '"security review", date_desc',
            "search_calls",
            "admin",
            fixed(query='"security review"', sort="date_desc"),
            True,
        ),
        Case(
            "Salesforce + label + last 30 days",
            "search_calls",
            "admin",
            fixed(query="Salesforce", labels={"Call Type": "Negotiation"}, from_date=month_ago),
            True,
        ),
        Case(
            "budget + EMEA team + hide_internal",
            "search_calls",
            "admin",
            fixed(query="budget", team_ids=[str(emea.pk)], hide_internal=True),
            True,
        ),
        Case("rep: Gongly", "search_calls", "rep", fixed(query="Gongly"), True),
        Case("rep: pricing", "search_calls", "rep", fixed(query="pricing"), True),
        Case('rep: "security review"', "search_calls", "rep", fixed(query='"security review"'), True),
        Case("rep: pricing, date_desc", "search_calls", "rep", fixed(query="pricing", sort="date_desc"), True),
        Case("no query (listing)", "search_calls", "admin", fixed()),
        Case("rep: no query (listing)", "search_calls", "rep", fixed()),
        Case("get_call_details", "get_call_details", "admin", lambda r: {"call_id": detail_ids[r % len(detail_ids)]}),
    ]
    if include_ask:
        if "ask_attention" in registry.tools():
            prompt = "What did they say about pricing and discounts?"
            cases.append(
                Case(
                    "ask_attention, 25 calls", "ask_attention", "admin", fixed(prompt=prompt, conversation_ids=ask_ids)
                )
            )
        else:
            print("ask_attention is not registered: skipped.", file=sys.stderr)
    return cases, actors


def _run(cases: list[Case], actors: dict[str, Any], rounds: int, warmup: int) -> None:
    from django.db import reset_queries

    from mcpgateway import registry

    specs = registry.tools()
    for round_no in range(-warmup, rounds):
        for case in cases:
            arguments = case.args(round_no % 1000 if round_no >= 0 else 999 - round_no)
            started = time.perf_counter()
            result = registry.call_tool(specs[case.tool], actors[case.actor], arguments)
            elapsed = (time.perf_counter() - started) * 1000
            reset_queries()
            if round_no < 0:
                continue
            case.samples.append(elapsed)
            if result.get("isError"):
                case.errors += 1
        if round_no >= 0 and (round_no + 1) % 10 == 0:
            print(f"  round {round_no + 1}/{rounds}", file=sys.stderr)


def _table(cases: list[Case]) -> str:
    lines = [
        "| case | tool | as | p50 ms | p95 ms | max ms | n | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        lines.append(
            f"| {c.name} | {c.tool} | {c.actor} | {statistics.median(c.samples):.1f} | "
            f"{_percentile(c.samples, 0.95):.1f} | {max(c.samples):.1f} | {len(c.samples)} | {c.errors} |"
        )
    text = [s for c in cases if c.text_query for s in c.samples]
    details = [s for c in cases if c.tool == "get_call_details" for s in c.samples]
    lines += [
        "",
        f"All text-query searches together (n={len(text)}): p50 {statistics.median(text):.1f} ms, "
        f"p95 {_percentile(text, 0.95):.1f} ms, max {max(text):.1f} ms "
        "(targets: p50 <= 50 ms, p95 <= 150 ms).",
        f"get_call_details (n={len(details)}): p95 {_percentile(details, 0.95):.1f} ms (target: p95 <= 30 ms).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="attention_bench", help="database on 127.0.0.1:5432 (created)")
    parser.add_argument("--database-url", default=None, help="use this database instead (not created)")
    parser.add_argument("--calls", type=int, default=50_000, help="calls to seed when the database is empty")
    parser.add_argument("--rounds", type=int, default=30, help="samples per case")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured rounds first")
    parser.add_argument("--no-ask", action="store_true", help="leave out ask_attention")
    parser.add_argument("--write-results", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    parser.add_argument("--note", default="", help="a sentence about the machine's load, for RESULTS.md")
    args = parser.parse_args()

    _prepare_environment(args)
    _ensure_database(args)
    import django

    django.setup()
    seeded = _seed(args.calls)
    print(f"database: {seeded}", file=sys.stderr)
    cases, actors = _cases(include_ask=not args.no_ask)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _run(cases, actors, args.rounds, args.warmup)
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    table = _table(cases)
    print(table)
    if args.write_results:
        command = "taskset -c 1 .venv/bin/python benchmarks/catalog_latency.py " + " ".join(sys.argv[1:])
        section = "\n".join(
            [
                "",
                f"## Catalog latency (search_calls, get_call_details, ask_attention): run of {started.isoformat()}",
                "",
                f"Command: `{command.strip()}`  ",
                f"Database: `attention_bench` on the local PostgreSQL, {seeded}.  ",
                f"Client pinned to CPUs {affinity}; PostgreSQL unpinned. Python {platform.python_version()}.  ",
                f"Shared machine: load average {load[0]:.1f} at the start and {load_after[0]:.1f} at the end "
                f"(other helpers' test suites and benchmarks ran at the same time). {args.note}".rstrip(),
                "",
                "In-process `registry.call_tool` (validation, tool, SQL, serialisation; no HTTP, no authentication),"
                f" {args.rounds} rounds after {args.warmup} warm-up rounds, cases round-robin.",
                "",
                table,
                "",
            ]
        )
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(section)
        print(f"appended to {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
