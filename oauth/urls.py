"""Authorization-server endpoints under /oauth/ (DOT's URL names, so its metadata view finds them)."""

from django.urls import path

from oauth import views

app_name = "oauth2_provider"

urlpatterns = [
    path("authorize/", views.AuthorizeView.as_view(), name="authorize"),
    path("token/", views.McpTokenView.as_view(), name="token"),
    path("revoke_token/", views.McpRevokeTokenView.as_view(), name="revoke-token"),
    path("register/", views.McpRegistrationView.as_view(), name="dcr-register"),
    path("register/<str:client_id>/", views.McpRegistrationManagementView.as_view(), name="dcr-register-management"),
]
