from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from oauth2_provider.urls import metadata_urlpatterns

from oauth import metadata
from oauth import views as oauth_views


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz),
    # The web pages: sign in/out and the account home (accounts), Settings → API keys (apikeys).
    path("", include("accounts.urls")),
    path("", include("apikeys.urls")),
    path(".well-known/oauth-protected-resource/mcp", metadata.protected_resource),
    path(".well-known/oauth-protected-resource", metadata.protected_resource),
    # RFC 8414 authorization-server metadata (DOT's view) at the domain root.
    path("", include((metadata_urlpatterns[:2], "oauth2_metadata"))),
    path("oauth/", include("oauth.urls")),
    path("account/connected-apps/", oauth_views.connected_apps, name="connected-apps"),
    path(
        "account/connected-apps/<int:pk>/disconnect/",
        oauth_views.connected_app_disconnect,
        name="connected-app-disconnect",
    ),
]
