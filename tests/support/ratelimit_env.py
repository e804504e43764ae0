"""Generous rate limits for the whole test run, loaded with `-p` (pyproject addopts) so that it runs
before Django reads its settings, and inherited by every server the tests start.

The suite sends hundreds of requests a second with one key, and all its failed authentications
come from 127.0.0.1: with production limits, tests would be refused at random. The Redis keys
carry a prefix of this run's own, so that counters never carry over between runs. Rate-limit
tests set tight limits on limiters or servers of their own.
"""

from __future__ import annotations

import json
import os
import uuid

GENEROUS = 1_000_000_000

os.environ.update(
    {
        "RATE_LIMIT_PER_SECOND": str(GENEROUS),
        "RATE_LIMIT_PER_HOUR": str(GENEROUS),
        "RATE_LIMIT_PER_DAY": str(GENEROUS),
        "RATE_LIMIT_KEY_PREFIX": f"rl-test-{uuid.uuid4().hex[:12]}",
        # The same endpoints as production, so that the middleware runs in every OAuth test.
        "RATE_LIMIT_STRICT": json.dumps(
            {
                path: {"minute": GENEROUS}
                for path in ("/oauth/register/", "/oauth/token/", "/accounts/login/", "/admin/login/")
            }
        ),
    }
)
