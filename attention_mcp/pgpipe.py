"""PostgreSQL from the event loop: one connection per loop in libpq pipeline mode (for /mcp's hot path).

The /mcp hot path needs one query per request (the API key's row, which is
also the revocation check). Running it through Django means a hop to a worker
thread and psycopg's cursor machinery, which together cost more CPU than the
rest of the request. Here the query goes out from the event loop itself
through libpq's own calls: every request queues its prepared statement and a
sync point, the queue is flushed once per loop iteration (or as soon as it
holds MCP_PIPELINE_BATCH statements), and the answers come back in order on
the same socket. Under load, many requests share one write
and one read; nothing waits on a thread.

Only prepared statements registered with `statement()` run here, with text
parameters and text results. Errors surface as Django's `DatabaseError`
family, so callers treat them like any ORM error (authentication answers 503,
never lets a request through). A query that gets no answer within
`MCP_DB_TIMEOUT_SECONDS` breaks the connection: every query waiting on it
fails, and the next one reconnects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import DatabaseError, OperationalError
from psycopg import pq

logger = logging.getLogger(__name__)

Row = tuple[str | None, ...]

# name -> SQL with $1.. placeholders; prepared on every connection when it opens.
_STATEMENTS: dict[bytes, bytes] = {}

_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
# Read once here rather than through the enum class for every result.
_PIPELINE_SYNC = pq.ExecStatus.PIPELINE_SYNC
_PIPELINE_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
# psycopg settings that are Python-side only; the rest of Django's parameters are libpq's.
_NOT_LIBPQ = ("cursor_factory", "context", "prepare_threshold")


def statement(name: str, sql: str) -> bytes:
    """Register a read-only prepared statement (at import time); returns the name to pass to `fetch`."""
    key = name.encode()
    if _STATEMENTS.get(key, sql.encode()) != sql.encode():
        raise ValueError(f"statement {name} is registered twice with different SQL")
    _STATEMENTS[key] = sql.encode()
    return key


def available() -> bool:
    """True when the default database is PostgreSQL (SQLite requests keep the worker-thread path)."""
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


class _Pending:
    __slots__ = ("aborted", "attempts", "error", "future", "name", "params", "rows", "sent_at")

    def __init__(self, future: asyncio.Future[list[Row]], sent_at: float, name: bytes, params: Sequence[bytes | None]):
        self.future = future
        self.sent_at = sent_at
        self.name = name
        self.params = params
        self.attempts = 1
        self.rows: list[Row] | None = None
        self.error: str | None = None
        self.aborted = False


# Marks, in the queue of statements sent, where a sync point went out.
_SYNC = object()


class PgPipe:
    """One pipelined connection, used only from the event loop it was made on.

    Statements queued in one loop iteration (up to `max_batch` of them) share one sync point and leave in
    one write. Should one of them fail, PostgreSQL skips the rest up to the sync ("aborted"): those never
    ran, and are sent again once. The pipe runs only read-only statements (the session is read-only),
    which never wait on a lock, so a slow statement cannot hold up the ones queued behind it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.timeout = settings.MCP_DB_TIMEOUT_SECONDS
        self.max_batch = settings.MCP_PIPELINE_BATCH
        self._conn: psycopg.Connection[Any] | None = None
        self._pg: Any = None
        self._fd = -1
        self._connecting: asyncio.Future[None] | None = None
        # Statements sent and not yet answered, in order, with a _SYNC after each batch.
        self._pending: collections.deque[_Pending | object] = collections.deque()
        self._current: _Pending | None = None  # the statement whose results are being read
        self._unsynced = False
        self._batched = 0  # statements queued since the last sync point
        self._flush_scheduled = False
        self._writing = False
        # One timer for the whole queue (not one per query): answers come in order, so only the
        # oldest query can be the first to overrun.
        self._watchdog: asyncio.TimerHandle | None = None

    def fetch(self, name: bytes, params: Sequence[bytes | None]) -> Awaitable[list[Row]]:
        """Queue a registered statement now (once connected); await its rows: tuples of text, None for NULL.

        Raises DatabaseError (when awaited). Queueing before awaiting lets other round trips overlap this one.
        """
        if self._pg is None:
            return self._fetch_after_connect(name, params)
        future: asyncio.Future[list[Row]] = self.loop.create_future()
        self._send(_Pending(future, self.loop.time(), name, params))
        return future

    def _send(self, pending: _Pending) -> None:
        try:
            self._pg.send_query_prepared(pending.name, pending.params)
        except psycopg.Error as exc:
            pending.future.set_exception(OperationalError("the database connection failed"))
            self._break(f"send failed: {exc}")
            return
        self._pending.append(pending)
        self._unsynced = True
        self._batched += 1
        if self._batched >= self.max_batch:
            # A full batch leaves now rather than at the end of the loop iteration: the server answers it
            # while the loop is still preparing the requests behind it.
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)
        if self._watchdog is None:
            self._watchdog = self.loop.call_at(pending.sent_at + self.timeout, self._watch)

    async def _fetch_after_connect(self, name: bytes, params: Sequence[bytes | None]) -> list[Row]:
        await self._connect()
        if self._pg is None:  # broken again at once
            raise OperationalError("the database connection failed")
        return await self.fetch(name, params)

    def _watch(self) -> None:
        self._watchdog = None
        oldest = self._oldest()
        if oldest is None:
            return
        if oldest + self.timeout <= self.loop.time():
            # Read whatever is there first: a late answer is an answer.
            self._readable()
            oldest = self._oldest()
            if oldest is not None and oldest + self.timeout <= self.loop.time():
                self._break(f"no answer within {self.timeout} s")
                return
        if oldest is not None and self._watchdog is None:
            self._watchdog = self.loop.call_at(oldest + self.timeout, self._watch)

    def _oldest(self) -> float | None:
        for item in self._pending:
            if isinstance(item, _Pending):
                return item.sent_at
        return None

    async def _connect(self) -> None:
        if self._pg is not None:
            return  # another request connected while this one was on its way here
        if self._connecting is None:
            self._connecting = self.loop.create_future()
            try:
                conn = await self.loop.run_in_executor(None, _open_connection)
            except BaseException as exc:
                failed, self._connecting = self._connecting, None
                failed.set_exception(OperationalError("could not connect to the database"))
                failed.exception()  # retrieved: only the waiters below care
                if isinstance(exc, psycopg.Error | OSError):
                    raise OperationalError("could not connect to the database") from exc
                raise
            self._conn, self._pg = conn, conn.pgconn
            # The descriptor is kept: a dead connection no longer tells it, and it must leave the selector.
            self._fd = self._pg.socket
            self.loop.add_reader(self._fd, self._readable)
            done, self._connecting = self._connecting, None
            done.set_result(None)
            return
        await asyncio.shield(self._connecting)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._pg is None or not self._unsynced:
            return
        try:
            self._pg.pipeline_sync()  # the batch's sync point; libpq writes what it can at once
            self._pending.append(_SYNC)
            self._unsynced = False
            self._batched = 0
            more = self._pg.flush()
        except psycopg.Error as exc:
            self._break(f"flush failed: {exc}")
            return
        if more and not self._writing:
            self._writing = True
            self.loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        try:
            more = self._pg.flush()
        except psycopg.Error as exc:
            self._break(f"flush failed: {exc}")
            return
        if not more:
            self._writing = False
            self.loop.remove_writer(self._fd)

    def _readable(self) -> None:
        pg = self._pg
        if pg is None:
            return
        try:
            pg.consume_input()
            # Everything libpq has buffered must be taken now: the socket will not wake us for it again.
            # Each statement's results end with None; a sync point's result follows the last one at once.
            # None with no statement open means nothing complete is left.
            pending = self._pending
            while not pg.is_busy():
                res = pg.get_result()
                if res is None:
                    current, self._current = self._current, None
                    if current is None:
                        break
                    self._finish(current)
                    continue
                status = res.status
                if status == _PIPELINE_SYNC:
                    if not pending or pending.popleft() is not _SYNC:
                        raise psycopg.InterfaceError("a sync point out of order")
                    continue
                current = self._current
                if current is None:
                    head = pending.popleft() if pending else None
                    if not isinstance(head, _Pending):
                        raise psycopg.InterfaceError("an answer to no statement")
                    current = self._current = head
                if current.rows is not None or current.error is not None or current.aborted:
                    continue  # one result per statement
                if status in _OK:
                    fields, value = range(res.nfields), res.get_value
                    # Comprehensions, not generators: this runs for every column of every row.
                    current.rows = [
                        tuple([None if (v := value(r, c)) is None else v.decode() for c in fields])
                        for r in range(res.ntuples)
                    ]
                elif status == _PIPELINE_ABORTED:
                    current.aborted = True
                else:
                    message = res.error_message.decode(errors="replace").strip()
                    current.error = message or f"query failed (status {int(status)})"
                    if res.error_field(pq.DiagnosticField.SEVERITY_NONLOCALIZED) in (b"FATAL", b"PANIC"):
                        # The server is ending the session (terminated, shutting down): nothing more will be
                        # answered here, so fail the rest now and let the next fetch reconnect.
                        self._current = None
                        self._finish(current)
                        self._break(f"the server ended the session: {current.error}")
                        return
            if pg.status != pq.ConnStatus.OK:
                self._break("connection lost")
        except Exception as exc:
            # Never leave answers buffered behind an exception: drop the connection and fail its queries.
            self._break(f"read failed: {type(exc).__name__}: {exc}")

    def _finish(self, item: _Pending) -> None:
        if item.future.done():
            return  # its caller gave up (cancelled)
        if item.aborted and item.attempts < 2:
            # Skipped because another statement of its batch failed: it never ran, so it may run again.
            item.attempts += 1
            item.aborted = False
            self._send(item)
        elif item.aborted:
            item.future.set_exception(DatabaseError("the statement was skipped twice after other statements failed"))
        elif item.error is not None:
            item.future.set_exception(DatabaseError(item.error))
        else:
            item.future.set_result(item.rows or [])

    def _break(self, reason: str) -> None:
        """Drop the connection and fail everything waiting on it; the next fetch reconnects."""
        waiting = sum(isinstance(item, _Pending) for item in self._pending) + (self._current is not None)
        logger.warning("database pipe closed: %s (%d queries failed)", reason, waiting)
        pg, conn = self._pg, self._conn
        self._pg = self._conn = None
        if pg is not None:
            try:
                self.loop.remove_reader(self._fd)
                if self._writing:
                    self.loop.remove_writer(self._fd)
            except (ValueError, OSError, psycopg.Error):
                pass
        self._writing = False
        self._unsynced = False
        self._batched = 0
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        current, self._current = self._current, None
        pending, self._pending = self._pending, collections.deque()
        for item in [current, *pending]:
            if isinstance(item, _Pending) and not item.future.done():
                item.future.set_exception(OperationalError("the database connection failed"))
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def close(self) -> None:
        if self._pg is not None:
            self._break("closed")


def _open_connection() -> psycopg.Connection[Any]:
    """A new autocommit connection with Django's parameters, every statement prepared, in pipeline mode."""
    params = connections[DEFAULT_DB_ALIAS].get_connection_params()
    for key in _NOT_LIBPQ:
        params.pop(key, None)
    conn = psycopg.Connection.connect(autocommit=True, **params)
    try:
        pg = conn.pgconn
        # Text results are parsed by their readers; fix the formats they read.
        # Read-only: nothing sent here can take a lock that would hold up the statements queued behind it.
        for command in (b"SET TIME ZONE 'UTC'", b"SET DateStyle = 'ISO'", b"SET default_transaction_read_only = on"):
            _expect_ok(pg.exec_(command))
        for name, sql in _STATEMENTS.items():
            _expect_ok(pg.prepare(name, sql))
        pg.nonblocking = 1
        pg.enter_pipeline_mode()
    except BaseException:
        conn.close()
        raise
    return conn


def _expect_ok(res: Any) -> None:
    if res.status not in _OK:
        raise psycopg.OperationalError(res.error_message.decode(errors="replace"))


_pipes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PgPipe] = weakref.WeakKeyDictionary()


def pipe() -> PgPipe:
    """The running loop's pipe (each loop needs its own: file descriptors are watched per loop)."""
    loop = asyncio.get_running_loop()
    current = _pipes.get(loop)
    if current is None:
        current = _pipes[loop] = PgPipe(loop)
    return current
