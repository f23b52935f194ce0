"""The JWTs that tell Electric 0.12 which user a client syncs as.

In secure mode Electric verifies each token with the AUTH_JWT_* settings that Django signs it with
(settings.ELECTRIC_AUTH); in insecure mode it reads the claims without checking the signature.
"""

import binascii
from datetime import UTC

import jwt
from django.conf import settings
from django.utils import timezone


def signing_key():
    """AUTH_JWT_KEY as the bytes that Electric verifies signatures with.

    Raises binascii.Error when AUTH_JWT_KEY_IS_BASE64_ENCODED is true and the key is not base64.
    """
    auth = settings.ELECTRIC_AUTH
    key = auth["KEY"]
    if auth["KEY_IS_BASE64_ENCODED"] == "true":
        if not key.isascii():
            raise binascii.Error("AUTH_JWT_KEY is not base64: it has non-ASCII characters")
        # Electric decodes the standard alphabet with or without the trailing "=" padding. This is
        # base64.b64decode(validate=True) without its Python frame, whose variable `s` (the key)
        # an error page would show: the filter (config/error_reports.py) hides `key` here.
        return binascii.a2b_base64(key + "=" * (-len(key) % 4), strict_mode=True)
    return key.encode()


def issue_token(user, now=None):
    """A token for `user`, and when it expires (an aware UTC datetime, the token's `exp`)."""
    auth = settings.ELECTRIC_AUTH
    # Whole seconds: JWT times are integers, and expires_at must be exactly the `exp` claim.
    issued_at = (now or timezone.now()).astimezone(UTC).replace(microsecond=0)
    expires_at = issued_at + auth["TOKEN_LIFETIME"]

    # Electric validates iat, nbf, exp, iss and aud at the top level of the claims. With
    # AUTH_JWT_NAMESPACE set, the server reads the user id (`sub`) inside the object under that
    # key, while the 0.12 client reads it at the top level and refuses a token without it there:
    # so `sub` goes in both places.
    user_id = str(user.pk)
    claims = {"sub": user_id, "iat": issued_at, "nbf": issued_at, "exp": expires_at}
    if auth["ISS"]:
        claims["iss"] = auth["ISS"]
    if auth["AUD"]:
        claims["aud"] = auth["AUD"]
    if auth["NAMESPACE"]:
        claims[auth["NAMESPACE"]] = {"sub": user_id}

    return _sign(claims), expires_at


def _sign(claims):
    key = signing_key()
    if not key and settings.ELECTRIC_AUTH_MODE == "insecure":
        # Nothing to sign with, and nothing needed: insecure Electric accepts unsigned tokens.
        return jwt.encode(claims, None, algorithm="none")
    return jwt.encode(claims, key, algorithm=settings.ELECTRIC_AUTH["ALG"])
