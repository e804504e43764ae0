"""Template filters of the web pages."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def email_wrap(email: str | None) -> SafeString | str:
    """An address that may wrap after its "@" (and only there) in narrow table cells."""
    if not email or "@" not in email:
        return email or ""
    local, domain = email.rsplit("@", 1)
    return format_html("{}@<wbr>{}", local, domain)
