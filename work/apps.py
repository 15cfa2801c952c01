from django.apps import AppConfig


class WorkConfig(AppConfig):
    name = "work"
    verbose_name = "Queued work"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the deployment checks)
