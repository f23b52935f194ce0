"""What `./manage.py check --deploy` adds for Electric."""

from django.conf import settings
from django.core import checks

from electric.auth_checks import check_auth_mode_in_production


@checks.register(checks.Tags.security, "electric", deploy=True)
def check_auth_mode_for_deployment(app_configs=None, **kwargs):
    # Where electric.E021 refuses it already (DEBUG off, no override), one message is enough.
    if settings.ELECTRIC_AUTH_MODE != "insecure" or check_auth_mode_in_production():
        return []
    return [
        checks.Warning(
            "ELECTRIC_AUTH_MODE is insecure: Electric accepts any token, unsigned, so any client "
            "can sync as any user.",
            hint="Set ELECTRIC_AUTH_MODE=secure in production (with AUTH_JWT_ALG and a random "
            "AUTH_JWT_KEY, which Django signs the tokens with).",
            id="electric.W020",
        )
    ]
