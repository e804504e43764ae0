"""The process's limiters, built from settings on first use (and rebuilt when tests change settings).

- `gateway_limiter()`: /mcp. Redis when REDIS_URL is set, failing open; otherwise in-process.
- `strict_limiter()` and `strict_policies()`: the OAuth and login endpoints. Redis when set,
  falling back to an in-process limiter (never open) when Redis fails; otherwise in-process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from ratelimit.core import (
    WINDOW_SECONDS,
    Backend,
    CircuitBreaker,
    LimiterUnavailable,
    MemoryBackend,
    Policy,
    policy_of,
)
from ratelimit.gateway import GatewayLimiter, OverrideCache
from ratelimit.limiter import Limiter
from ratelimit.redis_backend import RedisBackend

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_gateway: GatewayLimiter | None = None
_strict: Limiter | None = None
_strict_policies: dict[str, Policy] | None = None
_built: list[Limiter] = []


def _redis_backend() -> RedisBackend:
    return RedisBackend(
        settings.REDIS_URL,
        prefix=settings.RATE_LIMIT_KEY_PREFIX,
        connect_timeout=settings.RATE_LIMIT_REDIS_CONNECT_TIMEOUT_MS / 1000,
        timeout=settings.RATE_LIMIT_REDIS_TIMEOUT_MS / 1000,
        breaker=CircuitBreaker(settings.RATE_LIMIT_BREAKER_FAILURES, settings.RATE_LIMIT_BREAKER_COOLDOWN_MS / 1000),
    )


def gateway_limiter() -> GatewayLimiter | None:
    """The /mcp limiter, or None when RATE_LIMIT_ENABLED is off."""
    global _gateway
    if _gateway is None:
        if not settings.RATE_LIMIT_ENABLED:
            return None
        with _lock:
            if _gateway is None:
                backend: Backend = _redis_backend() if settings.REDIS_URL else MemoryBackend()
                limiter = Limiter(backend, name="mcp")
                defaults = (settings.RATE_LIMIT_PER_SECOND, settings.RATE_LIMIT_PER_HOUR, settings.RATE_LIMIT_PER_DAY)
                _built.append(limiter)
                _gateway = GatewayLimiter(limiter, OverrideCache(defaults, settings.RATE_LIMIT_OVERRIDE_TTL_SECONDS))
    return _gateway


def strict_limiter() -> Limiter:
    global _strict
    if _strict is None:
        with _lock:
            if _strict is None:
                if settings.REDIS_URL:
                    _strict = Limiter(_redis_backend(), fallback=MemoryBackend(), name="strict")
                else:
                    _strict = Limiter(MemoryBackend(), name="strict")
                _built.append(_strict)
    return _strict


def strict_policies() -> dict[str, Policy]:
    """Path -> Policy for the POST endpoints of RATE_LIMIT_STRICT."""
    global _strict_policies
    if _strict_policies is None:
        _strict_policies = {
            path: policy_of(tuple(sorted(windows.items(), key=lambda item: WINDOW_SECONDS[item[0]])))
            for path, windows in settings.RATE_LIMIT_STRICT.items()
        }
    return _strict_policies


def publish_override_change() -> None:
    """Per-organisation limits changed: forget them here and tell the other processes (best effort)."""
    gateway = gateway_limiter()
    if gateway is None:
        return
    gateway.overrides.invalidate()
    backend = gateway.limiter.backend
    if isinstance(backend, RedisBackend):
        try:
            backend.bump_generation()
        except LimiterUnavailable as exc:
            # The other processes still pick the change up when their cached entry expires.
            logger.warning("could not announce a rate-limit override change to other processes: %s", exc)


def reset() -> None:
    """Drop the limiters (and their connections); the next use rebuilds them from settings."""
    global _gateway, _strict, _strict_policies
    with _lock:
        built, _built[:] = list(_built), []
        _gateway = _strict = _strict_policies = None
    for limiter in built:
        if isinstance(limiter.backend, RedisBackend):
            limiter.backend.close()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("RATE_LIMIT_") or setting == "REDIS_URL":
        reset()
