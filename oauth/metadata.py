"""Discovery documents served at the domain root."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

SCOPES = ["mcp:read", "mcp:write"]


def protected_resource_document() -> dict[str, Any]:
    """RFC 9728 metadata for /mcp; `authorization_servers` names our issuer exactly."""
    return {
        "resource": settings.MCP_RESOURCE_URL,
        "authorization_servers": [settings.PUBLIC_BASE_URL],
        "scopes_supported": SCOPES,
        "bearer_methods_supported": ["header"],
        "resource_name": "Attention MCP",
    }


def _public_json(data: dict[str, Any]) -> JsonResponse:
    response = JsonResponse(data)
    # Public, credential-free documents: any origin may read them (browser-based clients discover from here).
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
def protected_resource(request: HttpRequest) -> JsonResponse:
    return _public_json(protected_resource_document())
