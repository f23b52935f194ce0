import os

from tests.compose_file import read_env_file
from tests.django_commands import setting


def databases_for(environment):
    """settings.DATABASES as a fresh process sees it, with exactly this environment."""
    return setting("DATABASES", environment)


def test_the_proxy_alias_is_built_from_electrics_environment():
    databases = databases_for(
        {
            **os.environ,
            "DATABASE_URL": "postgres://app:secret@db.internal:6543/shop",
            "ELECTRIC_PROXY_HOST": "electric",
            "ELECTRIC_PROXY_PORT": "7654",
            "PG_PROXY_PASSWORD": "proxy-password",
        }
    )

    assert databases["default"]["HOST"] == "db.internal"
    assert databases["default"]["NAME"] == "shop"
    proxy = databases["proxy"]
    assert proxy["ENGINE"] == "django.db.backends.postgresql"
    assert (proxy["HOST"], proxy["PORT"]) == ("electric", 7654)
    assert (proxy["USER"], proxy["PASSWORD"]) == ("postgres", "proxy-password")
    # The proxy refuses TLS, and the test runner must never build a database through it.
    assert proxy["OPTIONS"] == {"sslmode": "disable"}
    assert proxy["TEST"]["MIRROR"] == "default"


def test_dot_env_written_at_generation_time_configures_both_aliases():
    env_file = read_env_file()
    databases = databases_for(
        {name: value for name, value in os.environ.items() if name not in env_file}
    )

    assert databases["default"]["PASSWORD"] == env_file["POSTGRES_PASSWORD"]
    assert databases["proxy"]["PASSWORD"] == env_file["PG_PROXY_PASSWORD"]
    assert databases["proxy"]["PORT"] == int(env_file["ELECTRIC_PROXY_PORT"])


def test_empty_optional_auth_variables_count_as_unset():
    environment = {
        **os.environ,
        "AUTH_JWT_ALG": "",
        "AUTH_JWT_KEY_IS_BASE64_ENCODED": "",
        "AUTH_JWT_NAMESPACE": "",
        "AUTH_JWT_ISS": "",
        "AUTH_JWT_AUD": "",
    }
    auth = setting("ELECTRIC_AUTH", environment)

    assert (auth["NAMESPACE"], auth["ISS"], auth["AUD"]) == (None, None, None)
    # What compose passes to Electric for an empty or missing value, and what Electric reads.
    assert (auth["ALG"], auth["KEY_IS_BASE64_ENCODED"]) == ("HS256", "false")


def test_the_base64_flag_is_kept_as_written_for_the_system_check():
    environment = {
        **os.environ,
        "AUTH_JWT_KEY_IS_BASE64_ENCODED": "yes",
    }
    assert setting("ELECTRIC_AUTH['KEY_IS_BASE64_ENCODED']", environment) == "yes"
