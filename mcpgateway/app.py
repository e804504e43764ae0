"""The /mcp ASGI endpoint: Streamable HTTP, stateless, in front of the dispatcher.

The request path is deliberately lean (no Django request handler or
middleware): HTTP checks, bearer precheck and response writing run on the
event loop. Two paths do the rest:

- An API key on PostgreSQL (`_on_loop`): the key's row (revocation, the
  user's state and roles, the organisation) is one query on the event loop's
  pipelined connection (attention_mcp/pgpipe.py); the rate-limit command is
  queued on the loop's Redis connection (ratelimit/aioredis.py) at the same
  time, and both answers are read with one wake-up. A tool that says it needs
  nothing more (`inline=`) answers right there; any other runs in a worker
  thread.
- OAuth tokens, and SQLite (`_work`): one hop to a worker thread, whose
  database connection stays open between requests, for authentication, the
  rate limit (its Redis round trip overlapping the key check) and the tool.

Either way the rate limit counts against the user, else the organisation,
before anything is dispatched. Requests that fail authentication count against
the client's address, and get a 429 rather than a 401 once it is over.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cached_property, lru_cache, partial
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http.request import split_domain_port, validate_host

from accounts.permissions import Actor
from accounts.request_memo import request_scope
from apikeys import authentication
from apikeys.tokens import KeyClaims, TokenExpired, TokenInvalid
from attention_mcp import pgpipe
from mcpgateway import auth, protocol, registry
from ratelimit.core import Decision
from ratelimit.http import refusal_body, refusal_headers
from ratelimit.identity import client_ip
from ratelimit.runtime import gateway_limiter

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = Sequence[tuple[bytes, bytes]]
# What the worker hands back: the result (a refusal is the limiter's Decision) and the RateLimit headers.
Outcome = tuple[protocol.Reply | auth.AuthFailure | Decision, Headers]

ALLOWED_METHODS = "POST, OPTIONS"
CORS_ALLOW_HEADERS = (
    "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, mcp-method, mcp-name, last-event-id"
)
CORS_EXPOSE_HEADERS = "www-authenticate, mcp-session-id, retry-after, ratelimit, ratelimit-policy"


# Host headers already found in ALLOWED_HOSTS (a few per deployment; bounded so that junk cannot grow it,
# and only accepted ones are kept). Django's own check parses and matches patterns on every request.
_ACCEPTED_HOSTS: set[str] = set()
_ACCEPTED_HOSTS_MAX = 64


def host_allowed(host_header: str) -> bool:
    if host_header in _ACCEPTED_HOSTS:
        return True
    host, _port = split_domain_port(host_header)
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        return False
    if len(_ACCEPTED_HOSTS) < _ACCEPTED_HOSTS_MAX:
        _ACCEPTED_HOSTS.add(host_header)
    return True


def _forget_accepted_hosts(*, setting: str, **kwargs: Any) -> None:
    if setting == "ALLOWED_HOSTS":
        _ACCEPTED_HOSTS.clear()


setting_changed.connect(_forget_accepted_hosts)


def _ensure_healthy_connection() -> None:
    """Drop a worker thread's database connection if an error broke it; otherwise keep it open."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.errors_occurred:
        if conn.connection is not None and not conn.is_usable():
            conn.close()
        conn.errors_occurred = False


def _abandon(pending: Awaitable[Any]) -> None:
    """Let go of a query nobody will await, without a "never retrieved" warning for its outcome."""
    if isinstance(pending, asyncio.Future):
        pending.add_done_callback(lambda f: f.cancelled() or f.exception())
    elif inspect.iscoroutine(pending):
        pending.close()


class Admitted(NamedTuple):
    """An authenticated request the limiter let through, with its body decoded."""

    dispatcher: protocol.Dispatcher
    decoded: Any
    rate_headers: Headers


def _admit(decision: Decision | None, actor: Actor, body: bytes, headers: dict[str, str]) -> Admitted | Outcome:
    """After authentication, on either path: the limiter's refusal or the parse error to answer with, else the
    request ready to dispatch (with the RateLimit headers its reply carries). `decision` None: no limiter."""
    rate_headers: Headers = ()
    if decision is not None:
        if not decision.allowed:
            return decision, ()
        rate_headers = decision.headers
    try:
        decoded = protocol.decode(body)
    except (ValueError, RecursionError):
        return protocol.Reply(400, protocol.jsonrpc_error(None, protocol.PARSE_ERROR, "Parse error")), rate_headers
    dispatcher = protocol.Dispatcher(actor=actor, header_version=headers.get("mcp-protocol-version"), headers=headers)
    return Admitted(dispatcher, decoded, rate_headers)


def _log_failure(done: asyncio.Future[Any]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.warning("could not record an API key's last use: %s", done.exception())


def _in_worker(fn: Callable[[], Any]) -> Any:
    _ensure_healthy_connection()
    return fn()


def _dispatch_in_worker(
    dispatcher: protocol.Dispatcher, decoded: Any, checked: authentication.KeyAuth
) -> protocol.Reply:
    """The tool part of a request authenticated on the event loop."""
    _ensure_healthy_connection()
    with request_scope():
        checked.remember()
        return dispatcher.handle_body(decoded)


def _client_ip(client: Any, headers: dict[str, str]) -> str:
    """The address a request counts against when nothing else identifies it (scope["client"] is (host, port))."""
    peer = client[0] if client else None
    return client_ip(peer, headers.get("x-forwarded-for"), settings.TRUSTED_PROXY_COUNT)


@lru_cache(maxsize=256)
def _accepts(accept: str) -> tuple[bool, bool]:
    """(JSON acceptable, SSE acceptable) for an Accept header; clients send the same one every time."""
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",") if part.strip()}
    return bool(types & {"*/*", "application/*", "application/json"}), bool(types & {"text/event-stream", "text/*"})


class McpEndpoint:
    def __init__(self) -> None:
        self.max_body = settings.MCP_MAX_BODY_BYTES
        self.executor = ThreadPoolExecutor(max_workers=settings.MCP_WORKER_THREADS, thread_name_prefix="mcp-worker")
        # Import every tool module now, not inside the first request (it would hold the event loop that long).
        registry.tools()

    @cached_property
    def allowed_origins(self) -> tuple[frozenset[str], tuple[str, ...]]:
        exact = frozenset(o for o in settings.MCP_ALLOWED_ORIGINS if not o.endswith(":*"))
        any_port = tuple(o[:-1] for o in settings.MCP_ALLOWED_ORIGINS if o.endswith(":*"))
        return exact, any_port

    def origin_allowed(self, origin: str) -> bool:
        exact, any_port = self.allowed_origins
        if origin in exact:
            return True
        return any(origin.startswith(prefix) and origin[len(prefix) :].isdigit() for prefix in any_port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw_headers = scope["headers"]
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw_headers}
        if len(headers) != len(raw_headers):
            # A repeated header: join the values (repeated routing headers are refused by the 2026-07-28
            # ladder; keep the evidence).
            headers = {}
            for raw_name, raw_value in raw_headers:
                name = raw_name.decode("latin-1").lower()
                value = raw_value.decode("latin-1")
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
        origin = headers.get("origin")
        cors: list[tuple[bytes, bytes]] = []
        if origin is not None:
            if not self.origin_allowed(origin):
                return await self._json(send, 403, {"error": "forbidden", "error_description": "Origin not allowed"})
            cors = [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"vary", b"Origin"),
                (b"access-control-expose-headers", CORS_EXPOSE_HEADERS.encode()),
            ]
        if not host_allowed(headers.get("host", "")):
            return await self._json(send, 421, {"error": "misdirected_request", "error_description": "Unknown host"})

        method = scope["method"]
        if method == "OPTIONS":
            # CORS preflight is answered before authentication: browsers never send credentials with it.
            return await self._send(
                send,
                204,
                b"",
                [
                    *cors,
                    (b"access-control-allow-methods", b"POST, OPTIONS"),
                    (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
                    (b"access-control-max-age", b"86400"),
                    (b"allow", ALLOWED_METHODS.encode()),
                ],
            )
        if method != "POST":
            # Stateless: no standalone SSE stream (GET) and no session to end (DELETE).
            return await self._json(
                send, 405, {"error": "method_not_allowed"}, [*cors, (b"allow", ALLOWED_METHODS.encode())]
            )
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            return await self._json(
                send,
                415,
                protocol.jsonrpc_error(None, protocol.INVALID_REQUEST, "Content-Type must be application/json"),
                cors,
            )
        wants_json, wants_sse = _accepts(headers.get("accept", "*/*") or "*/*")
        if not wants_json and not wants_sse:
            return await self._json(
                send,
                406,
                protocol.jsonrpc_error(
                    None, protocol.INVALID_REQUEST, "Accept must allow application/json or text/event-stream"
                ),
                cors,
            )

        try:
            credential = auth.precheck(headers)
        except auth.AuthFailure as failure:
            limiter = gateway_limiter()
            if limiter is None:
                return await self._unauthorized(send, failure, cors)
            decision = await limiter.check_ip_async(_client_ip(scope.get("client"), headers), self._off_loop)
            if not decision.allowed:
                return await self._too_many(send, decision, cors)
            return await self._unauthorized(send, failure, [*cors, *decision.headers])

        body = await self._read_body(receive)
        if body is None:
            return await self._json(
                send, 413, protocol.jsonrpc_error(None, protocol.INVALID_REQUEST, "Request body too large"), cors
            )

        try:
            if credential.api_key is not None and self.loop_auth:
                outcome, rate_headers = await self._on_loop(credential, credential.api_key, body, headers, scope)
            else:
                outcome, rate_headers = await asyncio.get_running_loop().run_in_executor(
                    self.executor, self._work, credential, body, headers, scope.get("client")
                )
        except DatabaseError:
            logger.exception("database unavailable while authenticating an MCP request")
            return await self._json(
                send,
                503,
                {"error": "temporarily_unavailable", "error_description": "The service is temporarily unavailable."},
                [*cors, (b"retry-after", b"5")],
            )
        if isinstance(outcome, Decision):
            return await self._too_many(send, outcome, cors)
        if isinstance(outcome, auth.AuthFailure):
            return await self._unauthorized(send, outcome, [*cors, *rate_headers])
        if outcome.body is None:
            return await self._send(send, 202, b"", [*cors, *rate_headers])
        payload = protocol.encode(outcome.body)
        if wants_json:
            return await self._send(
                send, outcome.status, payload, [*cors, *rate_headers, (b"content-type", b"application/json")]
            )
        return await self._send(
            send,
            outcome.status,
            b"event: message\ndata: " + payload + b"\n\n",
            [*cors, *rate_headers, (b"content-type", b"text/event-stream")],
            cache_control=b"no-cache",
        )

    @cached_property
    def loop_auth(self) -> bool:
        """API keys are checked from the event loop when the database is PostgreSQL (see attention_mcp/pgpipe)."""
        return pgpipe.available()

    def _off_loop(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().run_in_executor(self.executor, _in_worker, fn)

    async def _on_loop(
        self, credential: auth.Credential, claims: KeyClaims, body: bytes, headers: dict[str, str], scope: Scope
    ) -> Outcome:
        """An API-key request, authenticated and rate limited from the event loop; the tool runs here too
        when it needs nothing more from the database, else in a worker thread. Same decisions as `_work`."""
        # The key's query goes out first; the limiter's round trip overlaps it.
        rows = authentication.key_rows_async(claims)
        limiter = gateway_limiter()
        decision: Decision | None = None
        # Usually queued at once, and read after the rows (by then it is in: one wake-up for both).
        sent = limiter.send_claims_async(claims) if limiter is not None else None
        try:
            if limiter is not None and sent is None:
                decision = await limiter.check_claims_async(claims, self._off_loop)
            key_rows = await rows
        except BaseException:
            _abandon(rows)
            if sent is not None:
                _abandon(sent.answer)
            raise
        if limiter is not None and sent is not None:
            decision = await limiter.finish_async(sent, self._off_loop)
        try:
            # Aware UTC, as timezone.now() gives with USE_TZ (always on here), without the settings lookup.
            now = datetime.now(UTC)
            checked = authentication.check_key_row(claims, key_rows[0] if key_rows else None, now)
        except (TokenExpired, TokenInvalid) as exc:
            failure = auth.AuthFailure("expired" if isinstance(exc, TokenExpired) else "invalid")
            if limiter is None:
                return failure, ()
            refusal = await limiter.check_ip_async(_client_ip(scope.get("client"), headers), self._off_loop)
            return (failure if refusal.allowed else refusal), refusal.headers
        actor = checked.actor
        if checked.touch_due:
            # Bookkeeping the reply does not wait for (at most once a minute per key), in a worker thread:
            # the event loop's connection only reads.
            self._off_loop(partial(authentication.record_use, checked.key_id, now)).add_done_callback(_log_failure)
        admitted = _admit(decision, actor, body, headers)
        if not isinstance(admitted, Admitted):
            return admitted
        dispatcher, decoded, rate_headers = admitted
        if dispatcher.runs_inline(decoded):
            try:
                # Synchronous from here to the reply: no other request runs on this thread meanwhile, so the
                # thread's request memo is this request's alone.
                with request_scope():
                    checked.remember()
                    return dispatcher.handle_body(decoded), rate_headers
            except SynchronousOnlyOperation:
                logger.warning("an inline tool touched the database; ran it in a worker thread instead")
        reply = await asyncio.get_running_loop().run_in_executor(
            self.executor, _dispatch_in_worker, dispatcher, decoded, checked
        )
        return reply, rate_headers

    def _work(self, credential: auth.Credential, body: bytes, headers: dict[str, str], client: Any) -> Outcome:
        """Authenticate against the database, then handle the body. Runs in a worker thread."""
        _ensure_healthy_connection()
        with request_scope():
            return self._authenticated(credential, body, headers, client)

    def _authenticated(self, credential: auth.Credential, body: bytes, headers: dict[str, str], client: Any) -> Outcome:
        limiter = gateway_limiter()
        # An API key names its user or organisation in claims already verified: its rate-limit round
        # trip goes out now and is read after the database check, so the two overlap.
        key_check = limiter.begin_key(credential.api_key) if limiter and credential.api_key else None
        try:
            actor = auth.resolve_actor(credential)
        except auth.AuthFailure as failure:
            if limiter is None:
                return failure, ()
            if key_check is not None:
                limiter.finish(key_check)  # counted against the key's identity; the answer is the 401
            decision = limiter.check_ip(_client_ip(client, headers))
            return (failure if decision.allowed else decision), decision.headers
        except BaseException:
            if limiter is not None and key_check is not None:
                limiter.finish(key_check)  # read it: the connection must not keep an unread answer
            raise
        verdict = None
        if limiter is not None:
            verdict = limiter.finish(key_check) if key_check is not None else limiter.check_actor(actor)
        admitted = _admit(verdict, actor, body, headers)
        if not isinstance(admitted, Admitted):
            return admitted
        return admitted.dispatcher.handle_body(admitted.decoded), admitted.rate_headers

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _unauthorized(self, send: Send, failure: auth.AuthFailure, extra: Headers) -> None:
        www_authenticate, body = auth.challenge(failure)
        await self._json(send, 401, body, [*extra, (b"www-authenticate", www_authenticate.encode())])

    async def _too_many(self, send: Send, decision: Decision, cors: Headers) -> None:
        headers = [*cors, *refusal_headers(decision), (b"content-type", b"application/json")]
        await self._send(send, 429, refusal_body(decision), headers)

    async def _json(self, send: Send, status: int, body: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        await self._send(send, status, protocol.encode(body), [*(extra or []), (b"content-type", b"application/json")])

    async def _send(
        self,
        send: Send,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        cache_control: bytes = b"no-store",  # nothing here is cacheable; an SSE stream says no-cache
    ) -> None:
        all_headers = [*headers, (b"content-length", str(len(body)).encode()), (b"cache-control", cache_control)]
        await send({"type": "http.response.start", "status": status, "headers": all_headers})
        await send({"type": "http.response.body", "body": body})
