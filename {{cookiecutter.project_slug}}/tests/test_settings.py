import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent

SHOW_DATABASES = (
    "import django, json; from django.conf import settings; django.setup(); "
    "print(json.dumps(settings.DATABASES, default=str))"
)


def databases_for(environment):
    """settings.DATABASES as a fresh process sees it, with exactly this environment."""
    result = subprocess.run(
        [sys.executable, "-c", SHOW_DATABASES],
        cwd=PROJECT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


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
    env_file = dict(
        line.split("=", 1)
        for line in (PROJECT / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    databases = databases_for(
        {name: value for name, value in os.environ.items() if name not in env_file}
    )

    assert databases["default"]["PASSWORD"] == env_file["POSTGRES_PASSWORD"]
    assert databases["proxy"]["PASSWORD"] == env_file["PG_PROXY_PASSWORD"]
    assert databases["proxy"]["PORT"] == int(env_file["ELECTRIC_PROXY_PORT"])


def test_empty_optional_auth_variables_count_as_unset():
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "AUTH_JWT_ALG": "",
        "AUTH_JWT_KEY_IS_BASE64_ENCODED": "",
        "AUTH_JWT_NAMESPACE": "",
        "AUTH_JWT_ISS": "",
        "AUTH_JWT_AUD": "",
    }
    code = (
        "import django, json; from django.conf import settings; django.setup(); "
        "print(json.dumps(settings.ELECTRIC_AUTH, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    auth = json.loads(result.stdout)

    assert (auth["NAMESPACE"], auth["ISS"], auth["AUD"]) == (None, None, None)
    # What compose passes to Electric for an empty or missing value, and what Electric reads.
    assert (auth["ALG"], auth["KEY_IS_BASE64_ENCODED"]) == ("HS256", "false")


def test_the_base64_flag_is_kept_as_written_for_the_system_check():
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "AUTH_JWT_KEY_IS_BASE64_ENCODED": "yes",
    }
    code = (
        "import django; from django.conf import settings; django.setup(); "
        "print(settings.ELECTRIC_AUTH['KEY_IS_BASE64_ENCODED'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "yes"
