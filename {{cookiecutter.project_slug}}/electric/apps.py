from django.apps import AppConfig


class ElectricConfig(AppConfig):
    name = "electric"
    verbose_name = "ElectricSQL integration"

    def ready(self):
        from electric import auth_checks, checks, deploy_checks  # noqa: F401  (registers checks)
