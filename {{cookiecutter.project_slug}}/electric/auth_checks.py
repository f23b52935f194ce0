"""System checks: would Electric 0.12 start with the client auth settings, and can Django sign?

Electric refuses to start on an unknown mode, an unknown algorithm, or a key missing, too short
or undecodable in secure mode; these checks say so at `./manage.py check`, before
`docker compose up`. (Insecure Electric also refuses every AUTH_JWT_* but the namespace: compose's
electric service drops those in insecure mode, so that switching ELECTRIC_AUTH_MODE needs no
other edit.)
"""

import binascii

from django.conf import settings
from django.core import checks

from electric.tokens import signing_key

AUTH_MODES = ("insecure", "secure")
# Electric 0.12 refuses to start in secure mode with an HMAC key shorter than this, in bytes.
# Asymmetric algorithms (RS*, ES*) are left out: Electric would hold the public key, but Django
# would need the private one to sign, and the two read the same AUTH_JWT_KEY.
HMAC_MIN_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
BASE64_FLAGS = ("true", "false")


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
        messages.append(
            checks.Error(
                f"AUTH_JWT_ALG is {auth['ALG']!r}; Django signs Electric's tokens with "
                f"{', '.join(HMAC_MIN_KEY_BYTES)} only.",
                hint="Use HS256 with a random AUTH_JWT_KEY shared by Django and Electric.",
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
