"""GET /electric/token/ issues the JWTs Electric 0.12 accepts; system checks guard their key,
lifetime and algorithm, and insecure mode in production; the entry points refuse what they refuse.
"""

import base64
import secrets
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from electric.auth_checks import (
    MAX_TOKEN_LIFETIME,
    check_auth_mode_in_production,
    check_client_auth,
    check_token_lifetime,
)
from electric.deploy_checks import check_auth_mode_for_deployment
from electric.startup import RefusedToStart, refuse_unsafe_auth
from electric.tokens import issue_token

KEY = secrets.token_urlsafe(48)
CLOCK_SLACK = timedelta(seconds=5)


@pytest.fixture
def electric_auth(settings):
    """Secure mode with a known key and no optional claims; call it to change any of that."""

    def configure(mode="secure", **changes):
        settings.ELECTRIC_AUTH_MODE = mode
        settings.ELECTRIC_AUTH = {
            **settings.ELECTRIC_AUTH,
            "ALG": "HS256",
            "KEY": KEY,
            "KEY_IS_BASE64_ENCODED": "false",
            "NAMESPACE": None,
            "ISS": None,
            "AUD": None,
            **changes,
        }

    configure()
    return configure


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user(username="ada")


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def get_token(client):
    response = client.get(reverse("electric:token"))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def verify(token, key=KEY, **expected):
    """The claims, if Electric's checks (signature, alg, required claims, times) pass."""
    return jwt.decode(
        token,
        key,
        algorithms=["HS256"],
        options={"require": ["iat", "nbf", "exp", *expected]},
        issuer=expected.get("iss"),
        audience=expected.get("aud"),
    )


def test_the_endpoint_is_mounted_under_electric():
    assert reverse("electric:token") == "/electric/token/"


def test_anonymous_users_get_a_json_401_not_a_login_page(client, electric_auth):
    response = client.get(reverse("electric:token"))

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]
    assert "token" not in response.json()


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_only_get_is_allowed_and_the_refusal_is_json(user, method):
    # As a browser or script would call it: with the session cookie, and CSRF checks on.
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = getattr(client, method)(reverse("electric:token"))

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response["Content-Type"] == "application/json"
    assert "GET" in response.json()["error"]


def test_the_token_response_is_never_cached(signed_in, electric_auth):
    response = signed_in.get(reverse("electric:token"))

    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-cache", "no-store", "private"} <= cache_control


def test_a_signed_in_user_gets_a_token_electric_verifies(signed_in, user, electric_auth, settings):
    before = datetime.now(UTC)
    body = get_token(signed_in)
    after = datetime.now(UTC)

    claims = verify(body["token"])
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"
    assert claims["sub"] == str(user.pk)

    issued_at = datetime.fromtimestamp(claims["iat"], UTC)
    assert before - CLOCK_SLACK <= issued_at <= after
    assert claims["nbf"] == claims["iat"]
    lifetime = settings.ELECTRIC_AUTH["TOKEN_LIFETIME"]
    assert claims["exp"] - claims["iat"] == lifetime.total_seconds()
    assert datetime.fromtimestamp(claims["exp"], UTC) > after

    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at.utcoffset() == timedelta(0)
    assert expires_at == datetime.fromtimestamp(claims["exp"], UTC)


def test_issue_token_dates_the_token_from_the_given_moment(user, electric_auth, settings):
    now = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)

    token, expires_at = issue_token(user, now=now)

    claims = jwt.decode(
        token, KEY, algorithms=["HS256"], options={"verify_iat": False, "verify_nbf": False}
    )
    assert claims["iat"] == claims["nbf"] == int(now.timestamp())
    assert expires_at == now.replace(microsecond=0) + settings.ELECTRIC_AUTH["TOKEN_LIFETIME"]
    assert claims["exp"] == expires_at.timestamp()


def test_the_lifetime_comes_from_the_settings(signed_in, electric_auth):
    electric_auth(TOKEN_LIFETIME=timedelta(minutes=2))

    claims = verify(get_token(signed_in)["token"])

    assert claims["exp"] - claims["iat"] == 120


def test_without_iss_aud_or_namespace_the_token_has_none_of_them(signed_in, electric_auth):
    claims = verify(get_token(signed_in)["token"])

    assert set(claims) == {"sub", "iat", "nbf", "exp"}


def test_iss_and_aud_are_set_when_configured(signed_in, electric_auth):
    electric_auth(ISS="https://notes.example.com", AUD="electric")

    token = get_token(signed_in)["token"]

    claims = verify(token, iss="https://notes.example.com", aud="electric")
    assert (claims["iss"], claims["aud"]) == ("https://notes.example.com", "electric")
    with pytest.raises(jwt.InvalidIssuerError):
        verify(token, iss="https://elsewhere.example.com", aud="electric")


def test_with_a_namespace_the_user_id_is_under_it_and_on_top(signed_in, user, electric_auth):
    namespace = "https://notes.example.com/jwt/claims"
    electric_auth(NAMESPACE=namespace, ISS="https://notes.example.com")

    claims = verify(get_token(signed_in)["token"], iss="https://notes.example.com")

    # Electric's server reads it under the namespace, its 0.12 client at the top level.
    assert claims[namespace] == {"sub": str(user.pk)}
    assert claims["sub"] == str(user.pk)
    assert {"iat", "nbf", "exp", "iss"} <= set(claims)


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
def test_a_base64_encoded_key_signs_with_the_decoded_bytes(signed_in, user, electric_auth, padded):
    raw_key = secrets.token_bytes(32)  # 32 bytes: base64 needs one "=" of padding
    encoded = base64.b64encode(raw_key).decode()
    if not padded:
        # Electric decodes keys with or without the padding.
        encoded = encoded.rstrip("=")
    electric_auth(KEY=encoded, KEY_IS_BASE64_ENCODED="true")
    assert check_client_auth() == []

    token = get_token(signed_in)["token"]

    assert verify(token, key=raw_key)["sub"] == str(user.pk)
    with pytest.raises(jwt.InvalidSignatureError):
        verify(token, key=encoded)


def test_another_key_does_not_verify_and_cannot_forge(signed_in, user, electric_auth):
    other_key = secrets.token_urlsafe(48)

    with pytest.raises(jwt.InvalidSignatureError):
        verify(get_token(signed_in)["token"], key=other_key)

    now = datetime.now(UTC)
    forged = jwt.encode(
        {"sub": str(user.pk), "iat": now, "nbf": now, "exp": now + timedelta(minutes=5)},
        other_key,
        algorithm="HS256",
    )
    with pytest.raises(jwt.InvalidSignatureError):
        verify(forged)


def test_insecure_mode_without_a_key_still_hands_out_tokens(signed_in, user, electric_auth):
    electric_auth(mode="insecure", KEY="")

    token = get_token(signed_in)["token"]

    # Insecure Electric reads the claims of unsigned tokens too.
    assert jwt.get_unverified_header(token)["alg"] == "none"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == str(user.pk)


def ids(messages):
    return [message.id for message in messages]


@pytest.mark.parametrize(
    "alg, minimum",
    [("HS256", 32), ("HS384", 48), ("HS512", 64)],
)
def test_secure_mode_refuses_a_key_shorter_than_electric_accepts(electric_auth, alg, minimum):
    electric_auth(ALG=alg, KEY=secrets.token_hex(minimum)[: minimum - 1])
    [message] = check_client_auth()
    assert message.id == "electric.E010"
    assert f"{minimum - 1} bytes" in message.msg
    assert f"shorter than {minimum} bytes" in message.msg

    electric_auth(ALG=alg, KEY=secrets.token_hex(minimum)[:minimum])
    assert check_client_auth() == []


@pytest.mark.parametrize("length, expected", [(31, ["electric.E010"]), (32, [])])
def test_a_base64_key_is_measured_after_decoding(electric_auth, length, expected):
    encoded = base64.b64encode(secrets.token_bytes(length)).decode()
    assert len(encoded) > 32  # long enough before decoding
    electric_auth(KEY=encoded.rstrip("="), KEY_IS_BASE64_ENCODED="true")

    messages = check_client_auth()

    assert ids(messages) == expected
    if messages:
        assert "after base64 decoding" in messages[0].msg


@pytest.mark.parametrize(
    "changes",
    [{"KEY": ""}, {"KEY": "not base64!" * 8, "KEY_IS_BASE64_ENCODED": "true"}],
    ids=["missing", "not-base64"],
)
def test_secure_mode_refuses_a_missing_or_undecodable_key(electric_auth, changes):
    electric_auth(**changes)
    assert ids(check_client_auth()) == ["electric.E010"]


@pytest.mark.parametrize("key", ["", "short"])
def test_insecure_mode_needs_no_key(electric_auth, key):
    electric_auth(mode="insecure", KEY=key)
    assert check_client_auth() == []


def test_insecure_mode_still_needs_a_key_django_can_decode(electric_auth):
    # Django signs with any key it has, in either mode: an undecodable one would be a 500.
    electric_auth(mode="insecure", KEY="not base64!" * 8, KEY_IS_BASE64_ENCODED="true")
    assert ids(check_client_auth()) == ["electric.E010"]


@pytest.mark.parametrize("mode", ["insecure", "secure"])
@pytest.mark.parametrize("flag", ["True", "1", "yes", "no", "0", " true"])
def test_the_base64_flag_must_be_exactly_true_or_false(electric_auth, mode, flag):
    electric_auth(mode=mode, KEY_IS_BASE64_ENCODED=flag)
    [message] = check_client_auth()
    assert message.id == "electric.E013"
    assert repr(flag) in message.msg


def test_an_unknown_auth_mode_is_reported(electric_auth):
    electric_auth(mode="strict")
    [message] = check_client_auth()
    assert message.id == "electric.E011"
    assert "'strict'" in message.msg


@pytest.mark.parametrize("alg", ["RS256", "ES256", "none", "hs256"])
def test_an_algorithm_django_cannot_sign_with_is_reported(electric_auth, alg):
    electric_auth(ALG=alg)
    assert ids(check_client_auth()) == ["electric.E012"]


@pytest.mark.parametrize("mode", ["insecure", "secure"])
@pytest.mark.parametrize("alg", ["hs256", "Hs384", "hs512"])
def test_a_lower_case_algorithm_is_reported_with_its_right_spelling(electric_auth, mode, alg):
    # PyJWT knows only the upper-case names: every token request would be a 500
    # (NotImplementedError), and Electric would refuse to start in secure mode.
    electric_auth(mode=mode, ALG=alg)
    [message] = check_client_auth()
    assert message.id == "electric.E012"
    assert f"write {alg.upper()}" in message.hint


@pytest.mark.parametrize("seconds", [-60, 0])
def test_a_lifetime_that_is_not_positive_is_reported(signed_in, electric_auth, seconds):
    electric_auth(TOKEN_LIFETIME=timedelta(seconds=seconds))
    [message] = check_token_lifetime()
    assert message.id == "electric.E014"
    assert f"ELECTRIC_TOKEN_LIFETIME_SECONDS is {seconds}" in message.msg

    # What the check prevents: a token born expired, which Electric refuses.
    token = get_token(signed_in)["token"]
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token)


@pytest.mark.parametrize("seconds", [30 * 86_400 + 1, 365 * 86_400, 315_360_000_000])
def test_a_lifetime_longer_than_30_days_is_reported(electric_auth, seconds):
    electric_auth(TOKEN_LIFETIME=timedelta(seconds=seconds))
    [message] = check_token_lifetime()
    assert message.id == "electric.E015"
    assert f"ELECTRIC_TOKEN_LIFETIME_SECONDS is {seconds}, more than 2592000" in message.msg


def test_a_lifetime_past_the_year_9999_would_fail_every_token_request(user, electric_auth):
    # Why the bound is needed at all: the expiry cannot even be computed.
    electric_auth(TOKEN_LIFETIME=timedelta(seconds=315_360_000_000))
    with pytest.raises(OverflowError):
        issue_token(user)


@pytest.mark.parametrize("seconds", [1, 900, 86_400, 30 * 86_400])
def test_lifetimes_from_a_second_to_30_days_are_accepted(signed_in, electric_auth, seconds):
    electric_auth(TOKEN_LIFETIME=timedelta(seconds=seconds))
    assert check_token_lifetime() == []
    assert timedelta(days=30) == MAX_TOKEN_LIFETIME

    claims = verify(get_token(signed_in)["token"])

    assert claims["exp"] - claims["iat"] == seconds


@pytest.fixture
def production(settings, electric_auth):
    """Settings read with DJANGO_DEBUG=false (PRODUCTION: pytest turns DEBUG off anyway)."""
    settings.PRODUCTION = True
    settings.ELECTRIC_ALLOW_INSECURE_AUTH = False
    return settings


def test_insecure_mode_in_production_is_an_error(production, electric_auth):
    electric_auth(mode="insecure")

    [message] = check_auth_mode_in_production()

    assert message.id == "electric.E021"
    assert message.is_serious()
    assert "ELECTRIC_ALLOW_INSECURE_AUTH=true" in message.hint
    # One message for one problem: check --deploy's warning stays quiet.
    assert check_auth_mode_for_deployment() == []


def test_insecure_mode_in_production_is_allowed_when_said_so(production, electric_auth):
    electric_auth(mode="insecure")
    production.ELECTRIC_ALLOW_INSECURE_AUTH = True

    assert check_auth_mode_in_production() == []
    # check --deploy still says it.
    assert ids(check_auth_mode_for_deployment()) == ["electric.W020"]


@pytest.mark.parametrize("is_production, mode", [(False, "insecure"), (True, "secure")])
def test_development_or_secure_mode_is_no_error(production, electric_auth, is_production, mode):
    production.PRODUCTION = is_production
    electric_auth(mode=mode)
    assert check_auth_mode_in_production() == []


def test_the_entry_points_refuse_insecure_production_in_one_line(production, electric_auth):
    electric_auth(mode="insecure")

    with pytest.raises(RefusedToStart) as refused:
        refuse_unsafe_auth()

    # ImproperlyConfigured for Django; RuntimeError, which gunicorn prints as `Error: <message>`.
    assert isinstance(refused.value, ImproperlyConfigured)
    assert isinstance(refused.value, RuntimeError)
    [line] = str(refused.value).splitlines()
    assert line.startswith("Refusing to start: ELECTRIC_AUTH_MODE is insecure while DEBUG is off")
    assert line.endswith("ELECTRIC_ALLOW_INSECURE_AUTH=true. (electric.E021)")


def test_the_entry_points_refuse_every_auth_error_one_line_each(production, electric_auth):
    electric_auth(KEY="short", TOKEN_LIFETIME=timedelta(seconds=-60))

    with pytest.raises(RefusedToStart) as refused:
        refuse_unsafe_auth()

    lines = str(refused.value).splitlines()
    assert [line.rsplit(" ", 1)[-1] for line in lines] == ["(electric.E010)", "(electric.E014)"]


def test_the_entry_points_start_with_good_settings_or_silenced_checks(production, electric_auth):
    refuse_unsafe_auth()  # secure mode, a good key: nothing to refuse

    electric_auth(mode="insecure")
    production.SILENCED_SYSTEM_CHECKS = ["electric.E021"]
    refuse_unsafe_auth()


@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
def test_a_500_from_an_undecodable_key_never_shows_the_key(user, electric_auth, settings, accept):
    # A key that is no base64, as a hand-edited .env may hold: every token request is a 500, and
    # the debug page must not show the key (in signing_key's variables, or base64's).
    key = "not*base64*" + secrets.token_urlsafe(40)
    electric_auth(KEY=key, KEY_IS_BASE64_ENCODED="true")
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    client.force_login(user)

    response = client.get(reverse("electric:token"), headers={"accept": accept})

    assert response.status_code == 500
    page = response.content.decode()
    assert "binascii.Error" in page or "Error at /electric/token/" in page
    assert key not in page
    assert key.removeprefix("not*base64*") not in page


def test_the_auth_check_runs_with_the_system_checks(electric_auth):
    electric_auth(KEY="short")
    assert "electric.E010" in ids(checks.run_checks(tags=["electric"]))


def test_the_new_auth_checks_run_with_the_system_checks(settings, electric_auth):
    electric_auth(mode="insecure", TOKEN_LIFETIME=timedelta(0))
    settings.PRODUCTION = True
    settings.ELECTRIC_ALLOW_INSECURE_AUTH = False

    found = ids(checks.run_checks(tags=["electric"]))

    assert {"electric.E014", "electric.E021"} <= set(found)
