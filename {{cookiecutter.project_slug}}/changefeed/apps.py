from django.apps import AppConfig


class ChangefeedConfig(AppConfig):
    name = "changefeed"
    verbose_name = "Change feed"

    def ready(self):
        from changefeed import checks  # noqa: F401 (registers the system checks)
