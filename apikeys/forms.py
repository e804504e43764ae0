"""The form of Settings → API keys."""

from __future__ import annotations

from django import forms

# Lifetimes offered on the page, in hours ("" = no expiry); the service accepts any 1..MAX_EXPIRY_HOURS.
EXPIRY_CHOICES = [
    ("", "Never"),
    ("24", "1 day"),
    ("168", "7 days"),
    ("720", "30 days"),
    ("2160", "90 days"),
    ("8760", "365 days"),
]
DEFAULT_EXPIRY = "2160"

ORG_LEVEL = "org"
USER_LEVEL = "user"


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text='What the key is for, e.g. "CI/CD pipeline" or "Data warehouse sync".',
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    scope = forms.ChoiceField(
        label="Access",
        choices=[
            (ORG_LEVEL, "Organisation-level: full access to the organisation's data, bound to no person"),
            (USER_LEVEL, "User-level: acts as you, with exactly your roles and teams"),
        ],
        initial=ORG_LEVEL,
        widget=forms.RadioSelect,
    )
    expiry = forms.ChoiceField(
        label="Expires after",
        choices=EXPIRY_CHOICES,
        required=False,
        initial=DEFAULT_EXPIRY,
        help_text="The key stops working then. You can revoke it at any time before.",
    )
    # A random id per displayed form: a resubmitted POST (reload, back button) does not create a second key.
    form_id = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    @property
    def org_level(self) -> bool:
        return str(self.cleaned_data["scope"]) == ORG_LEVEL

    @property
    def expiry_hours(self) -> int | None:
        value = str(self.cleaned_data.get("expiry") or "")
        return int(value) if value else None
