"""Who a request counts against: `user-{id}`, else `org-{id}`, else `ip-{address}`.

Per-IP limits hurt when many people share an egress address, so the address is only the
fallback for requests nothing else identifies (failed authentication, the OAuth endpoints).
"""

from __future__ import annotations

import ipaddress

from accounts.permissions import Actor
from apikeys.tokens import KeyClaims


def actor_identity(actor: Actor) -> str:
    """`user-{id}` for OAuth tokens and user-level keys, `org-{id}` for org-level keys."""
    if actor.user_id is not None:
        return f"user-{actor.user_id}"
    return f"org-{actor.org_id}"


def ip_identity(ip: str) -> str:
    return f"ip-{ip}"


def normalise_ip(value: str | None) -> str | None:
    """A canonical form of an address, or None if it is not one.

    IPv6 clients count per /64: one subscriber usually holds a whole /64 and could
    otherwise take a fresh address, and a fresh allowance, for every request.
    """
    if not value:
        return None
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: int) -> str:
    """The client's address: the TCP peer, or the entry `trusted_proxies` hops from the right of
    X-Forwarded-For when that many proxies we trust append to it.

    Entries further left were written by the client itself and are never believed, so a spoofed
    header cannot buy a fresh allowance.
    """
    if trusted_proxies > 0 and forwarded_for:
        hops = [hop for hop in (part.strip() for part in forwarded_for.split(",")) if hop]
        if hops:
            forwarded = normalise_ip(hops[-min(trusted_proxies, len(hops))])
            if forwarded is not None:
                return forwarded
    return normalise_ip(peer) or "unknown"


def key_identity(claims: KeyClaims) -> str:
    """What an API key's requests count against: its user, else its organisation. The claims' ids were
    checked canonical when the token was verified, so they are the ids `actor_identity` would use."""
    return f"user-{claims.user_id}" if claims.user_id is not None else f"org-{claims.org_id}"
