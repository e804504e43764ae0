"""ASGI entry point, served by Daphne: Channels routes each connection by protocol, then by path.

/mcp (and /mcp/) go straight to the lean MCP endpoint; everything else
(admin, OAuth, pages, metadata) is Django.
"""

import gc
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attention_mcp.settings")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from mcpgateway.app import McpEndpoint  # noqa: E402

web_app = ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app
mcp_app = McpEndpoint()
MCP_PATHS = frozenset({"/mcp", "/mcp/"})


async def http_router(scope: dict[str, Any], receive: Any, send: Any) -> None:
    # An exact set lookup: /mcp must not pay for Django's URL resolver.
    if scope["path"] in MCP_PATHS:
        await mcp_app(scope, receive, send)
    else:
        await web_app(scope, receive, send)


application = ProtocolTypeRouter({"http": http_router})

# What exists now (Django, the apps, every tool module, the server's own modules) lives as long as the
# process. Frozen, the collector stops walking it: the full collections that request garbage sets off
# then cost a fraction (about 0.05 ms of CPU per request under Daphne; benchmarks/RESULTS.md).
gc.collect()
gc.freeze()
