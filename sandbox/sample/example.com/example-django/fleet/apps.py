from django.apps import AppConfig


class FleetConfig(AppConfig):
    """What shows the site running on several hosts: which host answered, ran a task, ran a migration."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "fleet"
