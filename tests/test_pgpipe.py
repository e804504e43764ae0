"""attention_mcp.pgpipe: the event loop's pipelined PostgreSQL connection behind /mcp's API-key check.

Each test drives a fresh pipe on its own event loop against the test database: answers in order under
concurrency, one connection however the first requests race, a failing statement that does not take its
batch with it, a dead or silent server failing fast and being replaced, and a session that only reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, OperationalError, connection

from attention_mcp import pgpipe

pytestmark = pytest.mark.django_db(transaction=True)

# Registered at import, before any pipe of this process connects: each connection prepares them all.
ECHO = pgpipe.statement("test_echo", "SELECT $1::text, $1::int * 2, pg_backend_pid()")
DIVIDE = pgpipe.statement("test_divide", "SELECT 100 / $1::int")
SLEEP = pgpipe.statement("test_sleep", "SELECT pg_sleep($1::float8)")
WRITE = pgpipe.statement("test_write", "CREATE TEMP TABLE pgpipe_write_probe (x int)")


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the pipe exists only on PostgreSQL")


@pytest.fixture
def run() -> Iterator[Callable[[Callable[[], Awaitable[Any]]], Any]]:
    """Run a coroutine function on this test's own loop (and so its own pipe); the pipe is closed after."""
    loop = asyncio.new_event_loop()

    def go(make: Callable[[], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            return await make()

        return loop.run_until_complete(main())

    yield go

    async def close() -> None:
        pgpipe.pipe().close()

    loop.run_until_complete(close())
    loop.close()


def test_answers_come_back_to_their_own_callers_in_text(run: Callable[..., Any]) -> None:
    async def many() -> list[list[pgpipe.Row]]:
        pipe = pgpipe.pipe()
        return list(await asyncio.gather(*(pipe.fetch(ECHO, (str(i).encode(),)) for i in range(300))))

    results = run(many)
    assert [rows[0][:2] for rows in results] == [(str(i), str(i * 2)) for i in range(300)]
    assert len({rows[0][2] for rows in results}) == 1  # one server process: one connection


def test_requests_racing_the_first_connection_share_it(run: Callable[..., Any]) -> None:
    """A fetch made before the connection exists is a coroutine that connects when awaited; by then another
    request may have connected. It must use that connection, not open a second one over it."""

    async def race() -> set[str | None]:
        pipe = pgpipe.pipe()
        early = [pipe.fetch(ECHO, (b"1",)) for _ in range(5)]  # not connected yet: not started either
        first = await pipe.fetch(ECHO, (b"2",))  # connects
        later = await asyncio.gather(*early, *(pipe.fetch(ECHO, (b"3",)) for _ in range(5)))
        return {first[0][2], *(rows[0][2] for rows in later)}

    assert len(run(race)) == 1


def test_a_failing_statement_fails_alone_and_its_batch_still_answers(run: Callable[..., Any]) -> None:
    async def batch() -> list[Any]:
        pipe = pgpipe.pipe()
        await pipe.fetch(ECHO, (b"0",))  # connected: the next ones leave together, behind one sync point
        calls = [pipe.fetch(DIVIDE, (b"5",)), pipe.fetch(DIVIDE, (b"0",)), pipe.fetch(DIVIDE, (b"4",))]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    ok_before, failed, ok_after = run(batch)
    assert ok_before == [("20",)]
    assert isinstance(failed, DatabaseError)
    assert "division by zero" in str(failed)
    assert ok_after == [("25",)]  # skipped by PostgreSQL after the failure, then sent again


def test_a_full_batch_leaves_at_once_and_every_batch_answers_in_order(run: Callable[..., Any], settings: Any) -> None:
    """MCP_PIPELINE_BATCH statements make a full batch: it gets its sync point (and is written) as soon as the
    last one is queued, not at the end of the loop iteration; a failure stays inside its own batch."""
    settings.MCP_PIPELINE_BATCH = 3

    async def batches() -> tuple[int, int, list[Any]]:
        pipe = pgpipe.pipe()
        await pipe.fetch(ECHO, (b"0",))  # connected
        divisors = [b"1", b"2", b"4", b"5", b"0", b"10", b"20"]
        calls = [pipe.fetch(DIVIDE, (d,)) for d in divisors]
        synced_at_once = sum(item is pgpipe._SYNC for item in pipe._pending)
        await asyncio.sleep(0)  # the end of this loop iteration sends the rest
        synced_after = sum(item is pgpipe._SYNC for item in pipe._pending)
        return synced_at_once, synced_after, list(await asyncio.gather(*calls, return_exceptions=True))

    synced_at_once, synced_after, outcomes = run(batches)
    assert (synced_at_once, synced_after) == (2, 3)  # 3 + 3 at once, the seventh at the end of the iteration
    failed = outcomes.pop(4)
    assert isinstance(failed, DatabaseError)
    assert "division by zero" in str(failed)
    assert outcomes == [[("100",)], [("50",)], [("25",)], [("20",)], [("10",)], [("5",)]]


def test_a_statement_without_an_answer_fails_after_the_timeout_and_the_pipe_recovers(
    run: Callable[..., Any], settings: Any
) -> None:
    settings.MCP_DB_TIMEOUT_SECONDS = 1

    async def stuck() -> tuple[Any, float, list[pgpipe.Row], str | None]:
        pipe = pgpipe.pipe()
        stuck_pid = (await pipe.fetch(ECHO, (b"1",)))[0][2]
        started = time.monotonic()
        outcome = await asyncio.gather(pipe.fetch(SLEEP, (b"30",)), return_exceptions=True)
        elapsed = time.monotonic() - started
        return outcome[0], elapsed, await pipe.fetch(ECHO, (b"7",)), stuck_pid

    error, elapsed, after, stuck_pid = run(stuck)
    # The abandoned backend sleeps on until it next talks to its (closed) client: end it now, or the test
    # database cannot be dropped at the end of a short run.
    with psycopg.connect(**_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (int(stuck_pid or 0),))
    assert isinstance(error, OperationalError)
    assert 0.9 < elapsed < 5
    assert after[0][:2] == ("7", "14")
    assert after[0][2] != stuck_pid  # a new connection


def test_a_killed_connection_fails_what_waits_on_it_and_the_next_fetch_reconnects(run: Callable[..., Any]) -> None:
    async def killed() -> tuple[Any, str | None, str | None]:
        pipe = pgpipe.pipe()
        pid = (await pipe.fetch(ECHO, (b"1",)))[0][2]
        waiting = pipe.fetch(SLEEP, (b"5",))
        await asyncio.sleep(0.2)
        with psycopg.connect(**_params(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (int(pid or 0),))
        outcome = await asyncio.gather(waiting, return_exceptions=True)
        return outcome[0], pid, (await pipe.fetch(ECHO, (b"1",)))[0][2]

    error, old_pid, new_pid = run(killed)
    assert isinstance(error, DatabaseError)  # the server's FATAL answer, or the lost connection
    assert new_pid is not None
    assert new_pid != old_pid


def test_the_session_only_reads(run: Callable[..., Any]) -> None:
    async def write() -> Any:
        return (await asyncio.gather(pgpipe.pipe().fetch(WRITE, ()), return_exceptions=True))[0]

    error = run(write)
    assert isinstance(error, DatabaseError)
    assert "read-only transaction" in str(error)


def _params() -> dict[str, Any]:
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    return params
