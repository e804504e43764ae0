"""Forms of the sign-in page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

# One message for a wrong email, a wrong password and a deactivated account, so that the
# form tells nobody which addresses have accounts or which accounts were deactivated.
INVALID_LOGIN = "Wrong email or password, or the account is deactivated. Please try again."


class LoginForm(AuthenticationForm):
    """Email and password. ModelBackend refuses deactivated users (User.is_active) exactly as it refuses a
    wrong password, and both give INVALID_LOGIN."""

    username = forms.CharField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username", "spellcheck": "false"}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {"invalid_login": INVALID_LOGIN, "inactive": INVALID_LOGIN}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Email"

    def clean_username(self) -> str:
        # Addresses are stored in lower case (UserManager.create_user, the admin's forms).
        return str(self.cleaned_data["username"]).strip().lower()
