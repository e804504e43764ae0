"""Settings, read from the environment (see README.md for the full table).

The embedded default (no variables set) runs on SQLite with in-process caches,
so `make run` needs no other server. `ENVIRONMENT=production` turns on the
secure defaults and makes the secrets mandatory.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from attention_mcp.env import env_bool, env_int, env_list, env_str

# Lets generic admin/queryset annotations (ModelAdmin[Team]) work at run time, as django-stubs types them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

ENVIRONMENT = env_str("ENVIRONMENT", "development")
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured("ENVIRONMENT must be 'development' or 'production'")
PRODUCTION = ENVIRONMENT == "production"

# Tracebacks never reach clients unless a developer asks for them explicitly.
DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        if PRODUCTION and len(key) < 50:
            raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production")
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY is required when ENVIRONMENT=production")
    # Development: one random key, generated once and kept, so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

# The public origin clients use; every absolute URL we emit (MCP resource,
# metadata, web links) is built from it, never from the request's Host header.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_public = urlsplit(PUBLIC_BASE_URL)
if _public.scheme not in {"http", "https"} or not _public.hostname:
    raise ImproperlyConfigured("PUBLIC_BASE_URL must be an absolute http(s) URL")
if PRODUCTION and _public.scheme != "https":
    raise ImproperlyConfigured("PUBLIC_BASE_URL must use https in production")
# RFC 9728 / 8707: the canonical resource URL has a lower-case scheme and host and no trailing slash.
PUBLIC_BASE_URL = f"{_public.scheme.lower()}://{_public.netloc.lower()}{_public.path}".rstrip("/")
MCP_RESOURCE_URL = f"{PUBLIC_BASE_URL}/mcp"

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS",
    sorted({_public.hostname.lower(), "localhost", "127.0.0.1", "[::1]"}),
)

# How many reverse proxies in front of us append to X-Forwarded-For. Zero
# means the header is ignored: the client IP is the TCP peer.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = False

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "channels",
    "oauth2_provider",
    "accounts",
    "apikeys",
    "calls",
    "oauth",
    "mcpgateway",
    "ratelimit",
    "analysis",
    "scorecards",
    "deals",
    "forecasting",
    "agent",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before sessions and CSRF: a refused POST to the OAuth or login endpoints costs nothing more.
    "ratelimit.middleware.StrictRateLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "attention_mcp.urls"
WSGI_APPLICATION = "attention_mcp.wsgi.application"
ASGI_APPLICATION = "attention_mcp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "attention_mcp.web.nav",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
if DATABASE_URL.startswith("sqlite"):
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run while one writer writes; IMMEDIATE transactions turn
    # would-be deadlocks between two writers into a short wait.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "attention",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The people's sign-in page (the operators' admin keeps its own /admin/login/).
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/account/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The pages' own CSS and JavaScript (static/css, static/js), next to templates/.
STATICFILES_DIRS = [BASE_DIR / "static"]
# Daphne serves the admin's static files itself in the embedded run; behind a
# real proxy operators may turn this off and serve STATIC_ROOT instead.
SERVE_STATIC = env_bool("SERVE_STATIC", True)

# Security headers; the production block below tightens transport settings.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [f"{_public.scheme}://{_public.netloc}"])

# Links in tool results point at the web app (calls, snippets, teams).
WEB_APP_BASE_URL = env_str("WEB_APP_BASE_URL", PUBLIC_BASE_URL).rstrip("/")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
}

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- OAuth 2.1 authorization server (django-oauth-toolkit) ---------------
# Our Application model adds the loopback-only rule for http redirect URIs.
# It must be set before oauth2_provider's first migration runs.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth.Application"
OAUTH_ACCESS_TOKEN_SECONDS = env_int("OAUTH_ACCESS_TOKEN_SECONDS", 3600, minimum=60)
OAUTH_REFRESH_TOKEN_SECONDS = env_int("OAUTH_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600, minimum=300)
# Dynamic registrations never used for a login are deleted after this long (prune_oauth_clients).
OAUTH_UNUSED_CLIENT_DAYS = env_int("OAUTH_UNUSED_CLIENT_DAYS", 7, minimum=1)
OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "oauth.validators.McpOAuth2Validator",
    # The issuer and every endpoint URL in the metadata come from the configured public URL, never from Host.
    "OIDC_ISS_ENDPOINT": PUBLIC_BASE_URL,
    "SCOPES": {
        "mcp:read": "Read your calls, transcripts, scorecards, teams and other data you can already see",
        "mcp:write": "Make changes you are allowed to make: labels, snippets, scores, teams, users and keys",
    },
    "DEFAULT_SCOPES": ["mcp:read", "mcp:write"],
    "READ_SCOPE": "mcp:read",
    "WRITE_SCOPE": "mcp:write",
    "PKCE_REQUIRED": True,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": OAUTH_ACCESS_TOKEN_SECONDS,
    # Refresh tokens rotate; replaying a rotated one revokes its whole family, except that the
    # immediate predecessor is honoured for a few seconds (clients refresh in parallel).
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": env_int("OAUTH_REFRESH_GRACE_SECONDS", 10, minimum=0),
    "REFRESH_TOKEN_EXPIRE_SECONDS": OAUTH_REFRESH_TOKEN_SECONDS,
    # Every consent is explicit; no silent re-approval.
    "REQUEST_APPROVAL_PROMPT": "force",
    # Redirect URIs: https, or http on a loopback host (any port, RFC 8252); oauth.models enforces the host part.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "ALLOWED_SCHEMES": ["https"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["none", "client_secret_basic", "client_secret_post"],
    "OAUTH2_PROTECTED_RESOURCE_IDENTIFIER": MCP_RESOURCE_URL,
    # Dynamic Client Registration is open to anonymous clients (Claude registers itself); the
    # registration view caps body sizes and ratelimit throttles it per IP.
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "CIMD_ENABLED": True,
    # RFC 9700: implicit and password grants refused, S256 only, no tokens in query strings, iss in responses.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    # Off, with reasons (the matching --deploy warnings are silenced below):
    # - TOKEN_STORAGE: hashed-only storage cannot honour the refresh grace window (the retried
    #   request must get the already-issued pair back), which the issue requires. Tokens are
    #   still looked up by their SHA-256 checksum, never by value.
    # - REDIRECT_URI_SCHEME: DOT's gate allows http for every host or none; we need it for
    #   loopback hosts only, which oauth.models.Application.clean() enforces.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": False,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": False,
}
SILENCED_SYSTEM_CHECKS = ["oauth2_provider.W006", "oauth2_provider.W008"]

# --- /mcp ---------------------------------------------------------------
# Modules whose @tool functions make up the MCP tool catalog.
MCP_TOOL_MODULES = [
    "accounts.mcp_tools",
    "calls.mcp_tools",
    "apikeys.mcp_tools",
    "analysis.mcp_tools",
    "scorecards.mcp_tools",
    "deals.mcp_tools",
    "forecasting.mcp_tools",
    "agent.mcp_tools",
]
MCP_MAX_BODY_BYTES = env_int("MCP_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# Threads that run authentication and tools; each keeps its own database connection open.
MCP_WORKER_THREADS = env_int("MCP_WORKER_THREADS", 8, minimum=1)
# API-key requests on PostgreSQL are authenticated from the event loop (mcpgateway/pgpipe.py); a query that
# gets no answer this long fails (503) and its connection is replaced.
MCP_DB_TIMEOUT_SECONDS = env_int("MCP_DB_TIMEOUT_SECONDS", 10, minimum=1)
# The event loop's PostgreSQL and Redis connections send what one loop iteration queued in one write, but never
# more than this many requests' worth at once: a full batch leaves at once, so the servers work on it while the
# loop prepares the rest (benchmarks/RESULTS.md: 8 keeps one core busy under uvicorn's waves of 16).
MCP_PIPELINE_BATCH = env_int("MCP_PIPELINE_BATCH", 8, minimum=1)
# The super agent (agent/conf.py): how long send_super_agent_message waits before answering "processing", and
# the in-process worker threads that run its jobs (0: only `manage.py run_agent_worker` processes run them).
AGENT_SEND_WAIT_SECONDS = env_int("AGENT_SEND_WAIT_SECONDS", 15, minimum=0)
AGENT_WORKER_THREADS = env_int("AGENT_WORKER_THREADS", 2, minimum=0)
# ask_attention's optional language-model backend (analysis/backends.py); without a key it stays extractive.
ANTHROPIC_API_KEY = env_str("ANTHROPIC_API_KEY")
ANTHROPIC_MODEL = env_str("ANTHROPIC_MODEL", "claude-haiku-4-5")
# Browser origins allowed to call /mcp (DNS-rebinding protection); ":*" allows any port.
# Server-side clients (Claude, the Messages API) send no Origin and are unaffected.
MCP_ALLOWED_ORIGINS = env_list(
    "MCP_ALLOWED_ORIGINS",
    [f"{_public.scheme}://{_public.netloc}"]
    + ([] if PRODUCTION else ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]),
)

# --- Rate limiting ---------------------------------------------------------
# /mcp: per-second, per-hour and per-day windows for each identity (user-, else org-, else ip-),
# checked and counted in one Redis round trip (in-process without REDIS_URL). Operators give
# organisations their own limits in the admin. If Redis fails, /mcp requests go through (counted).
RATE_LIMIT_ENABLED = env_bool("RATE_LIMIT_ENABLED", True)
RATE_LIMIT_PER_SECOND = env_int("RATE_LIMIT_PER_SECOND", 20, minimum=1)
RATE_LIMIT_PER_HOUR = env_int("RATE_LIMIT_PER_HOUR", 5000, minimum=1)
RATE_LIMIT_PER_DAY = env_int("RATE_LIMIT_PER_DAY", 50000, minimum=1)
# Redis keys are "<prefix>:<identity>" (the test suite takes a prefix of its own per run).
RATE_LIMIT_KEY_PREFIX = env_str("RATE_LIMIT_KEY_PREFIX", "rl")
# How long a process may keep an organisation's limits before reading them again; a change made
# in the admin reaches every process on its next request anyway (through Redis).
RATE_LIMIT_OVERRIDE_TTL_SECONDS = env_int("RATE_LIMIT_OVERRIDE_TTL_SECONDS", 30, minimum=0)
# Fail fast: a Redis that hangs costs a request at most the timeouts, and only until the circuit
# breaker opens (after N consecutive failures; then one probe per cool-down until Redis answers).
RATE_LIMIT_REDIS_CONNECT_TIMEOUT_MS = env_int("RATE_LIMIT_REDIS_CONNECT_TIMEOUT_MS", 50, minimum=1)
RATE_LIMIT_REDIS_TIMEOUT_MS = env_int("RATE_LIMIT_REDIS_TIMEOUT_MS", 100, minimum=1)
RATE_LIMIT_BREAKER_FAILURES = env_int("RATE_LIMIT_BREAKER_FAILURES", 3, minimum=1)
RATE_LIMIT_BREAKER_COOLDOWN_MS = env_int("RATE_LIMIT_BREAKER_COOLDOWN_MS", 2000, minimum=1)

# Stricter per-IP limits on POSTs to the endpoints open to anyone, which never fail open (they
# fall back to in-process counting). Windows: second, minute, hour, day. The token endpoint's
# limit is per IP too, and hosted clients (Claude) refresh from a few shared addresses: size it
# for every user of such a client together.
_STRICT_DEFAULT = {
    "/oauth/register/": {"minute": 10, "day": 100},
    "/oauth/token/": {"minute": 60},
    "/accounts/login/": {"minute": 10},
    "/admin/login/": {"minute": 10},
}


def _strict_limits(raw: str) -> dict[str, dict[str, int]]:
    """RATE_LIMIT_STRICT as JSON, e.g. {"/oauth/token/": {"minute": 120}}; it replaces the defaults."""
    import json

    if not raw:
        return _STRICT_DEFAULT
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"RATE_LIMIT_STRICT must be JSON: {exc}") from exc
    windows = {"second", "minute", "hour", "day"}
    if not isinstance(value, dict) or not all(
        isinstance(path, str)
        and path.startswith("/")
        and isinstance(limits, dict)
        and limits
        and all(window in windows and type(n) is int and n >= 1 for window, n in limits.items())
        for path, limits in value.items()
    ):
        raise ImproperlyConfigured(
            'RATE_LIMIT_STRICT must map paths to windows, e.g. {"/oauth/token/": {"minute": 60, "day": 1000}}'
        )
    return value


RATE_LIMIT_STRICT = _strict_limits(env_str("RATE_LIMIT_STRICT"))
