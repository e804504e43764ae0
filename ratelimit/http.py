"""The 429 answer, byte for byte the same on /mcp and on the strict endpoints."""

from __future__ import annotations

import json

from ratelimit.core import Decision


def refusal_body(decision: Decision) -> bytes:
    """`{"error":"rate limit exceeded","retry_after":"N s","limit_type":"second|hour|day"}`"""
    body = {
        "error": "rate limit exceeded",
        "retry_after": f"{decision.retry_after} s",
        "limit_type": decision.limit_type,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def refusal_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    """Retry-After (whole seconds until the reported window resets) and the RateLimit fields."""
    return [(b"retry-after", str(decision.retry_after).encode()), *decision.headers]
