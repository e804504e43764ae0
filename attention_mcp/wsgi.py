"""WSGI entry point, for operators who run the web pages under a WSGI server.

/mcp is ASGI-only (see asgi.py); everything else works under WSGI too.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attention_mcp.settings")
application = get_wsgi_application()
