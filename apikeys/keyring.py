"""The API-key signing keys: one signing key and any number of verification keys, chosen by `kid`.

The algorithm is fixed here (Ed25519), never taken from a token: a token's
header only selects a key by `kid` from this table, so `alg: none`, HMAC
signed with a public key, or `jku`/`x5u`/`jwk` headers have nothing to hold on to.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from attention_mcp.env import env_str

ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class KeyRing:
    signing_kid: str
    signing_key: Ed25519PrivateKey
    verification_keys: dict[str, Ed25519PublicKey]


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable id for a public key (a truncated SHA-256 thumbprint of its raw bytes)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode().rstrip("=")


def _load_private(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except ValueError as exc:
        raise ImproperlyConfigured(f"API_KEY_SIGNING_KEY is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured("API_KEY_SIGNING_KEY must be an Ed25519 key")
    return key


def _load_public(kid: str, pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ImproperlyConfigured(f"API_KEY_VERIFICATION_KEYS[{kid}] is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ImproperlyConfigured(f"API_KEY_VERIFICATION_KEYS[{kid}] must be an Ed25519 key")
    return key


def _development_key() -> str:
    """Development only: one key generated on first use and kept under var/."""
    path = Path(settings.VAR_DIR) / "apikey_signing_key.pem"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    return path.read_text()


@cache
def keyring() -> KeyRing:
    pem = env_str("API_KEY_SIGNING_KEY")
    if not pem:
        if settings.PRODUCTION:
            raise ImproperlyConfigured("API_KEY_SIGNING_KEY (an Ed25519 PEM private key) is required in production")
        pem = _development_key()
    signing_key = _load_private(pem)
    signing_kid = env_str("API_KEY_SIGNING_KID") or key_id(signing_key.public_key())
    # Old keys stay here after a rotation so tokens they signed keep working until revoked.
    extra_raw = env_str("API_KEY_VERIFICATION_KEYS")
    try:
        extra: dict[str, str] = json.loads(extra_raw) if extra_raw else {}
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured("API_KEY_VERIFICATION_KEYS must be a JSON object {kid: PEM public key}") from exc
    if not isinstance(extra, dict):
        raise ImproperlyConfigured("API_KEY_VERIFICATION_KEYS must be a JSON object {kid: PEM public key}")
    verification = {kid: _load_public(kid, pem) for kid, pem in extra.items()}
    verification[signing_kid] = signing_key.public_key()
    return KeyRing(signing_kid=signing_kid, signing_key=signing_key, verification_keys=verification)
