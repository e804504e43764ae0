"""Fixtures for the in-process OAuth tests. Load as a plugin::

pytest_plugins = ["tests.support.oauth_fixtures"]
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test.utils import override_settings


@pytest.fixture
def fast_hashers() -> Iterator[None]:
    """Passwords and client secrets hashed with MD5 in this process (PBKDF2 costs ~0.3 s a hash).

    Never in tests whose hashes a live server must verify: it does not accept MD5.
    """
    with override_settings(
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.MD5PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        ]
    ):
        yield
