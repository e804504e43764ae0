from django.apps import AppConfig


class RatelimitConfig(AppConfig):
    name = "ratelimit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ratelimit import signals  # noqa: F401 (connects the receivers)
