from django.urls import path

from apikeys import views

urlpatterns = [
    path("settings/api-keys/", views.api_keys, name="api-keys"),
    path("settings/api-keys/<str:key_id>/revoke/", views.api_key_revoke, name="api-key-revoke"),
]
