"""Stricter per-IP limits on the endpoints anyone can hammer without an account: dynamic client
registration, the token endpoint and the login form (RATE_LIMIT_STRICT, POST only).

Unlike /mcp these never fail open: when Redis fails they are counted in this process instead,
which is per process but still a limit.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from ratelimit.http import refusal_body, refusal_headers
from ratelimit.identity import client_ip, ip_identity
from ratelimit.runtime import strict_limiter, strict_policies


class StrictRateLimitMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and settings.RATE_LIMIT_ENABLED:
            policy = strict_policies().get(request.path_info)
            if policy is not None:
                ip = client_ip(
                    request.META.get("REMOTE_ADDR"),
                    request.META.get("HTTP_X_FORWARDED_FOR"),
                    settings.TRUSTED_PROXY_COUNT,
                )
                decision = strict_limiter().check(f"strict:{request.path_info}:{ip_identity(ip)}", policy)
                if not decision.allowed:
                    response = HttpResponse(refusal_body(decision), status=429, content_type="application/json")
                    for name, value in refusal_headers(decision):
                        response[name.decode()] = value.decode()
                    response["Cache-Control"] = "no-store"
                    return response
        return self.get_response(request)
