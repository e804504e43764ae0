from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import path

from oauth import metadata


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz),
    path(".well-known/oauth-protected-resource/mcp", metadata.protected_resource),
    path(".well-known/oauth-protected-resource", metadata.protected_resource),
]
