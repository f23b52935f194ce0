"""System checks: would Electric 0.12 start with the client auth settings, and can Django sign?

Electric refuses to start on an unknown mode, an unknown algorithm, or a key missing, too short
or undecodable in secure mode; these checks say so at `./manage.py check`, before
`docker compose up`. (Insecure Electric also refuses every AUTH_JWT_* but the namespace: compose's
electric service drops those in insecure mode, so that switching ELECTRIC_AUTH_MODE needs no
other edit.) They also refuse a token lifetime Django cannot issue or should not (E014, E015),
and insecure mode in production unless ELECTRIC_ALLOW_INSECURE_AUTH says it is meant (E021).

runserver, migrate and check run these; gunicorn and uvicorn run no checks, so config/wsgi.py and
config/asgi.py run them too (electric/startup.py) and refuse to start on an error.
"""

import binascii
from datetime import timedelta

from django.conf import settings
from django.core import checks

from electric.tokens import signing_key

AUTH_MODES = ("insecure", "secure")
# Electric 0.12 refuses to start in secure mode with an HMAC key shorter than this, in bytes.
# Asymmetric algorithms (RS*, ES*) are left out: Electric would hold the public key, but Django
# would need the private one to sign, and the two read the same AUTH_JWT_KEY.
HMAC_MIN_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
BASE64_FLAGS = ("true", "false")
# The longest a token from /electric/token/ may be valid. Electric 0.12 cannot revoke a token: it
# checks the signature and the times, nothing else, so a token keeps syncing for its whole
# lifetime after the user signs out, is deactivated or loses the device. Clients fetch a fresh one
# whenever they connect (the session cookie gets it), so long lifetimes buy little; 30 days caps
# the exposure at about two of Django's default sessions (SESSION_COOKIE_AGE, 14 days), and keeps
# clear of lifetimes Python cannot even date (an expiry past the year 9999).
MAX_TOKEN_LIFETIME = timedelta(days=30)


@checks.register(checks.Tags.security, "electric")
def check_client_auth(app_configs=None, **kwargs):
    """What Electric 0.12 would refuse at start-up, and what Django cannot sign with."""
    mode = settings.ELECTRIC_AUTH_MODE
    auth = settings.ELECTRIC_AUTH
    messages = []
    if mode not in AUTH_MODES:
        messages.append(
            checks.Error(
                f"ELECTRIC_AUTH_MODE is {mode!r}; Electric 0.12 knows only "
                f"{' and '.join(map(repr, AUTH_MODES))}.",
                hint="Use secure in production, insecure for local development only.",
                id="electric.E011",
            )
        )
    if auth["KEY_IS_BASE64_ENCODED"] not in BASE64_FLAGS:
        messages.append(
            checks.Error(
                f"AUTH_JWT_KEY_IS_BASE64_ENCODED is {auth['KEY_IS_BASE64_ENCODED']!r}; only "
                "'true' or 'false' mean the same to Electric and Django.",
                hint="Electric reads anything but false, 0 or an empty value as true: write "
                "exactly true or false, or leave it out (false).",
                id="electric.E013",
            )
        )
        return messages
    if auth["ALG"] not in HMAC_MIN_KEY_BYTES:
        upper = auth["ALG"].upper()
        messages.append(
            checks.Error(
                f"AUTH_JWT_ALG is {auth['ALG']!r}; Django signs Electric's tokens with "
                f"{', '.join(HMAC_MIN_KEY_BYTES)} only.",
                hint=(
                    f"Algorithm names are case-sensitive, to Electric and Django: write {upper}."
                    if upper in HMAC_MIN_KEY_BYTES
                    else "Use HS256 with a random AUTH_JWT_KEY shared by Django and Electric."
                ),
                id="electric.E012",
            )
        )
    elif mode == "secure" or auth["KEY"]:
        # Django signs with any key it has, in either mode; only secure Electric needs one.
        messages.extend(_check_signing_key(auth["ALG"], required=mode == "secure"))
    return messages


def _check_signing_key(alg, required):
    minimum = HMAC_MIN_KEY_BYTES[alg]
    encoded = settings.ELECTRIC_AUTH["KEY_IS_BASE64_ENCODED"] == "true"
    rule = f"in secure mode Electric refuses an {alg} key shorter than {minimum} bytes"
    hint = (
        f"Set AUTH_JWT_KEY to at least {minimum} random bytes, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(48))'."
    )
    if encoded:
        hint += " With AUTH_JWT_KEY_IS_BASE64_ENCODED=true, the length counts after decoding."
    try:
        key = signing_key()
    except binascii.Error:
        return [
            checks.Error(
                "AUTH_JWT_KEY is not valid base64, but AUTH_JWT_KEY_IS_BASE64_ENCODED is true.",
                hint="Encode the key with the standard base64 alphabet (the trailing = padding "
                "may be left out), or set AUTH_JWT_KEY_IS_BASE64_ENCODED=false to use it as it is.",
                id="electric.E010",
            )
        ]
    if not required:
        return []
    if not key:
        return [checks.Error(f"AUTH_JWT_KEY is not set; {rule}.", hint=hint, id="electric.E010")]
    if len(key) < minimum:
        measured = "after base64 decoding" if encoded else "long"
        return [
            checks.Error(
                f"AUTH_JWT_KEY is {len(key)} bytes {measured}; {rule}.",
                hint=hint,
                id="electric.E010",
            )
        ]
    return []


@checks.register(checks.Tags.security, "electric")
def check_token_lifetime(app_configs=None, **kwargs):
    """ELECTRIC_TOKEN_LIFETIME_SECONDS: positive (else every token is born expired), and at most
    MAX_TOKEN_LIFETIME (else a token outlives far too much, or cannot be dated at all)."""
    lifetime = settings.ELECTRIC_AUTH["TOKEN_LIFETIME"]
    seconds = int(lifetime.total_seconds())
    maximum = int(MAX_TOKEN_LIFETIME.total_seconds())
    if lifetime <= timedelta(0):
        return [
            checks.Error(
                f"ELECTRIC_TOKEN_LIFETIME_SECONDS is {seconds}: every token from /electric/token/ "
                "would be expired when issued, and Electric would refuse it.",
                hint=f"Set a positive number of seconds, at most {maximum} (30 days); the "
                "default is 900.",
                id="electric.E014",
            )
        ]
    if lifetime > MAX_TOKEN_LIFETIME:
        return [
            checks.Error(
                f"ELECTRIC_TOKEN_LIFETIME_SECONDS is {seconds}, more than {maximum} (30 days): "
                "Electric cannot revoke a token, so it would keep syncing that long after its "
                "user signed out or was deactivated.",
                hint="Clients fetch a fresh token whenever they connect: keep it short (the "
                "default is 900).",
                id="electric.E015",
            )
        ]
    return []


def production():
    """Whether DEBUG was off when the settings were read (tests turn DEBUG off afterwards)."""
    return getattr(settings, "PRODUCTION", not settings.DEBUG)


@checks.register(checks.Tags.security, "electric")
def check_auth_mode_in_production(app_configs=None, **kwargs):
    """Insecure Electric in production: refused, unless ELECTRIC_ALLOW_INSECURE_AUTH says so."""
    if (
        settings.ELECTRIC_AUTH_MODE != "insecure"
        or not production()
        or getattr(settings, "ELECTRIC_ALLOW_INSECURE_AUTH", False)
    ):
        return []
    return [
        checks.Error(
            "ELECTRIC_AUTH_MODE is insecure while DEBUG is off: Electric accepts any token, "
            "unsigned, so any client can sync as any user.",
            hint="Set ELECTRIC_AUTH_MODE=secure (Django signs the tokens with AUTH_JWT_KEY); or, "
            "if an insecure production is really meant, ELECTRIC_ALLOW_INSECURE_AUTH=true.",
            id="electric.E021",
        )
    ]


# What config/wsgi.py and config/asgi.py run before serving (electric/startup.py).
STARTUP_CHECKS = (check_client_auth, check_token_lifetime, check_auth_mode_in_production)
