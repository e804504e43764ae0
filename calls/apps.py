from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from calls import search

        # SQLite rebuilds a table for many schema changes and drops its triggers with it: the full-text
        # index would silently stop following writes. Restore them after every migrate.
        post_migrate.connect(search.sqlite_repair_index, sender=self, dispatch_uid="calls.sqlite_repair_index")
