"""OAuth client and connection state on top of django-oauth-toolkit.

`Application` is DOT's own model with a stricter redirect-URI rule: `https`
anywhere, `http` only on a loopback host (RFC 8252 §7.3; any port is accepted
at request time by DOT). DOT's own scheme gate is all-or-nothing per scheme,
so the host condition lives here, in `clean()`, which the admin, Dynamic
Client Registration and CIMD all run before saving.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from oauth2_provider.models import AbstractApplication
from oauthlib.oauth2.rfc6749 import errors as oauthlib_errors

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_REDIRECT_URIS = 10
MAX_REDIRECT_URI_LENGTH = 2000


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be registered as a redirect URI, or None when it can."""
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        return "is too long"
    # Fix: non-ASCII too (U+00A0, U+2028, ...): str.split() treats them as separators, so one of them at the
    # end of a URI vanished between registration and use instead of being refused. URIs are ASCII (RFC 3986).
    if any(ord(ch) <= 0x20 or ord(ch) >= 0x7F or ch == "\\" for ch in uri):
        return "contains whitespace, a backslash, a control or a non-ASCII character"
    try:
        parts = urlsplit(uri)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return "is not a valid URL"
    # Compare the scheme as written: "HTTPS://" or "JavaScript:" are not what clients send back.
    scheme = uri.split(":", 1)[0]
    if scheme not in ("https", "http"):
        return "must use https (or http on a loopback address)"
    if "#" in uri:
        return "must not contain a fragment"
    if "@" in parts.netloc:
        return "must not contain user information"
    if not hostname:
        return "must name a host"
    if scheme == "http" and hostname not in LOOPBACK_HOSTS:
        return "may use http only on 127.0.0.1, [::1] or localhost"
    return None


def _without_loopback_port(uri: str) -> str | None:
    """`uri` without its port if it is an http URI on a loopback host, else None."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    if not uri.startswith("http://") or parts.hostname not in LOOPBACK_HOSTS:
        return None
    host = parts.netloc[: parts.netloc.rfind(":")] if port is not None else parts.netloc
    return "http://" + host + uri[len("http://") + len(parts.netloc) :]


def redirect_uri_registered(uri: str, registered: list[str]) -> bool:
    """Simple string comparison with a registered URI (RFC 9700 §2.1), except that a loopback
    URI may name any port (RFC 8252 §7.3); and never a URI that could not be registered today."""
    if redirect_uri_problem(uri) is not None:
        return False
    if uri in registered:
        return True
    bare = _without_loopback_port(uri)
    return bare is not None and any(_without_loopback_port(candidate) == bare for candidate in registered)


class Application(AbstractApplication):  # type: ignore[misc]
    class Meta(AbstractApplication.Meta):  # type: ignore[misc]
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        try:
            super().clean()
        except ValidationError as exc:
            errors = {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
        uris = self.redirect_uris.split()
        if any(ord(ch) >= 0x7F for ch in self.redirect_uris):
            # Separators may be ASCII whitespace only; see redirect_uri_problem().
            errors.setdefault("redirect_uris", []).append("Redirect URIs must be ASCII.")
        if len(uris) > MAX_REDIRECT_URIS:
            errors.setdefault("redirect_uris", []).append(f"At most {MAX_REDIRECT_URIS} redirect URIs.")
        for uri in uris:
            problem = redirect_uri_problem(uri)
            if problem:
                errors.setdefault("redirect_uris", []).append(f"Redirect URI {uri[:200]!r} {problem}.")
        # Fix: a DCR client could switch itself to client_credentials (or another grant) through the
        # RFC 7592 management endpoint (PUT /oauth/register/<id>/), which skips the registration view's
        # checks. Clients nobody verified only ever act for a person who consented.
        if self.is_dynamic and self.authorization_grant_type != self.GRANT_AUTHORIZATION_CODE:
            errors.setdefault("authorization_grant_type", []).append(
                "Dynamically registered clients may only use the authorization code grant."
            )
        if errors:
            raise ValidationError(errors)

    # Fix: DOT compares scheme and host case-insensitively and accepts any stored URI whose parts
    # match, so an application saved without clean() (an old row, a script) could still redirect to
    # "javascript:...", "file:...", "http://non-loopback/..." or a case variant. Both the requested
    # URI and the default one now go through the registration rules and exact string comparison.
    def redirect_uri_allowed(self, uri: str) -> bool:
        return bool(super().redirect_uri_allowed(uri)) and redirect_uri_registered(uri, self.redirect_uris.split())

    @property
    def default_redirect_uri(self) -> str:
        uri = str(super().default_redirect_uri)
        if redirect_uri_problem(uri) is not None:
            raise oauthlib_errors.MissingRedirectURIError()
        return uri

    @property
    def is_dynamic(self) -> bool:
        """Registered by an anonymous client (DCR) or described by its own metadata URL (CIMD): not verified."""
        return bool(self.registration_source != self.RegistrationSource.MANUAL)

    @property
    def display_host(self) -> str:
        """For CIMD clients the client_id is the metadata URL; its host is what the person can judge."""
        if self.registration_source == self.RegistrationSource.CIMD:
            return urlsplit(self.client_id).hostname or ""
        return ""


class Connection(models.Model):
    """One person's authorisation of one client: when it was last used on /mcp (Connected apps)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_connections")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="connections")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "application"], name="oauth_connection_unique")]

    def __str__(self) -> str:
        return f"{self.user} → {self.application}"
