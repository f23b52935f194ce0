"""compose.yaml honours Electric 0.12's contract and agrees with .env and Django's settings.

No Docker here: the file is validated against the Compose specification and read as compose would
read it (tests/compose_file.py); the commands it runs are run for real in test_compose_commands.py.
"""

import json
import os
import re
import shlex
import subprocess
import sys

import pytest
from compose_file import PROJECT, compose, raw_compose, read_env_file, service_environment

SECRETS = ("DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "PG_PROXY_PASSWORD", "AUTH_JWT_KEY")
DJANGO_SERVICES = ("migrate", "web", "consumer")


def test_compose_yaml_is_valid_against_the_compose_specification():
    result = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(PROJECT / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_electric_is_pinned_to_a_proxy_era_release():
    image = compose()["services"]["electric"]["image"]
    name, _, tag = image.partition(":")
    assert name == "electricsql/electric"
    assert re.fullmatch(r"0\.\d+(\.\d+)?", tag), f"{image} is not a pinned 0.x (proxy-era) tag"


def test_postgres_is_14_or_newer_with_logical_replication_and_a_healthcheck():
    postgres = compose()["services"]["postgres"]
    major = int(re.fullmatch(r"postgres:(\d+)-alpine", postgres["image"]).group(1))
    assert major >= 14
    options = dict(
        setting.split("=", 1)
        for flag, setting in zip(postgres["command"], postgres["command"][1:], strict=False)
        if flag == "-c"
    )
    assert options["wal_level"] == "logical"
    # Electric's slot and the project's own consumer's, at least.
    assert int(options["max_replication_slots"]) >= 2
    assert int(options["max_wal_senders"]) >= 2
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose()["volumes"]


def database_url_parts(url):
    match = re.fullmatch(r"postgres(?:ql)?://([^:]+):([^@]+)@([^:/]+):(\d+)/(\w+)", url)
    assert match, url
    return match.groups()


def test_electric_reaches_postgres_without_tls_and_with_its_credentials():
    services = compose()["services"]
    electric = services["electric"]["environment"]
    postgres = services["postgres"]["environment"]

    user, password, host, port, database = database_url_parts(electric["DATABASE_URL"])
    assert (user, password, database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    assert (host, port) == ("postgres", "5432")
    # Electric 0.12 insists on TLS unless told otherwise; this Postgres has none.
    assert electric["DATABASE_REQUIRE_SSL"] == "false"
    assert services["electric"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_electric_writes_to_postgres_in_a_mode_that_needs_no_extra_networking():
    electric = compose()["services"]["electric"]["environment"]
    mode = electric.get("ELECTRIC_WRITE_TO_PG_MODE", "logical_replication")
    assert mode == "direct_writes" or electric.get("LOGICAL_PUBLISHER_HOST")


def test_electric_auth_matches_the_prompt_and_secure_mode_has_a_key():
    electric = compose()["services"]["electric"]["environment"]
    assert electric["AUTH_MODE"] == "{{ cookiecutter.electric_auth_mode }}"
    if electric["AUTH_MODE"] == "secure":
        assert electric["AUTH_JWT_ALG"] == "HS256"
        assert len(electric["AUTH_JWT_KEY"].encode()) >= 32
    else:
        assert "AUTH_JWT_KEY" not in electric


def test_ports_follow_the_prompts():
    services = compose()["services"]
    electric = services["electric"]
    assert electric["environment"]["HTTP_PORT"] == "{{ cookiecutter.electric_http_port }}"
    assert electric["environment"]["PG_PROXY_PORT"] == "{{ cookiecutter.pg_proxy_port }}"
    assert sorted(electric["ports"]) == sorted(
        [
            "{{ cookiecutter.electric_http_port }}:{{ cookiecutter.electric_http_port }}",
            "{{ cookiecutter.pg_proxy_port }}:{{ cookiecutter.pg_proxy_port }}",
        ]
    )
    assert services["postgres"]["ports"] == ["{{ cookiecutter.postgres_port }}:5432"]
    assert services["web"]["ports"] == ["{{ cookiecutter.django_port }}:{{ cookiecutter.django_port }}"]


def django_settings_under(environment, name):
    """A Django setting as a service's process, with exactly this environment, would see it."""
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps(settings.{name}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=PROJECT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **environment,
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("service", DJANGO_SERVICES)
def test_django_services_reach_postgres_and_the_proxy_with_electrics_password(service):
    services = compose()["services"]
    electric = services["electric"]["environment"]

    databases = django_settings_under(service_environment(service), "DATABASES")

    assert (databases["default"]["HOST"], databases["default"]["PORT"]) == ("postgres", 5432)
    proxy = databases["proxy"]
    assert proxy["HOST"] == "electric"
    assert str(proxy["PORT"]) == electric["PG_PROXY_PORT"]
    assert (
        proxy["PASSWORD"] == electric["PG_PROXY_PASSWORD"] == read_env_file()["PG_PROXY_PASSWORD"]
    )


# .env.example's optional auth lines, uncommented.
OPTIONAL_AUTH = {
    "AUTH_JWT_KEY_IS_BASE64_ENCODED": "true",
    "AUTH_JWT_NAMESPACE": "https://example.com/jwt/claims",
    "AUTH_JWT_ISS": "https://example.com",
    "AUTH_JWT_AUD": "electric",
}


@pytest.mark.parametrize("optional", [{}, OPTIONAL_AUTH], ids=["required-only", "optional-set"])
def test_electric_checks_tokens_with_the_settings_django_signs_them_with(optional):
    env = {**read_env_file(), **optional}
    electric = service_environment("electric", env)
    web = service_environment("web", env)
    auth = django_settings_under(web, "ELECTRIC_AUTH")

    assert electric["AUTH_MODE"] == django_settings_under(web, "ELECTRIC_AUTH_MODE")
    # Both modes look for the user id under the namespace.
    assert electric.get("AUTH_JWT_NAMESPACE") == auth["NAMESPACE"]
    if electric["AUTH_MODE"] == "secure":
        assert (electric["AUTH_JWT_ALG"], electric["AUTH_JWT_KEY"]) == (auth["ALG"], auth["KEY"])
        base64_key = electric.get("AUTH_JWT_KEY_IS_BASE64_ENCODED", "false") == "true"
        assert base64_key == auth["KEY_IS_BASE64_ENCODED"]
        assert electric.get("AUTH_JWT_ISS") == auth["ISS"]
        assert electric.get("AUTH_JWT_AUD") == auth["AUD"]
    else:
        # Electric checks no signature: the key (and the claims it would check) stay out of it.
        assert electric["AUTH_MODE"] == "insecure"
        passed = {name for name in electric if name.startswith("AUTH_JWT_")}
        assert passed <= {"AUTH_JWT_NAMESPACE"}


def test_services_start_in_order():
    services = compose()["services"]
    assert services["migrate"]["depends_on"]["electric"]["condition"] == "service_started"
    for service in ("web", "consumer"):
        condition = services[service]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
    assert services["migrate"]["restart"] == "no"
    assert services["consumer"]["restart"] == "on-failure"


def manage_py_commands(service):
    command = compose()["services"][service]["command"]
    words = shlex.split(command[-1]) if command[0] == "sh" else command
    return [words[i + 1] for i, word in enumerate(words) if word == "manage.py"]


def test_migrate_waits_for_the_proxy_then_migrates_through_it():
    command = compose()["services"]["migrate"]["command"]
    assert command[:2] == ["sh", "-c"]
    script = command[2]
    wait, migrate = script.split(" && ")
    assert shlex.split(wait)[:4] == ["python", "manage.py", "wait_for_db", "--database=proxy"]
    assert shlex.split(migrate) == ["python", "manage.py", "migrate", "--database=proxy"]


@pytest.mark.parametrize("service", DJANGO_SERVICES)
def test_every_management_command_compose_runs_exists(service):
    for name in manage_py_commands(service):
        result = subprocess.run(
            [sys.executable, "manage.py", "help", name], cwd=PROJECT, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{service} runs `manage.py {name}`: {result.stderr}"


def test_no_secret_is_written_into_compose_yaml():
    text = (PROJECT / "compose.yaml").read_text()
    env = read_env_file()
    for name in SECRETS:
        assert env[name] not in text, f"the value of {name} is in compose.yaml"

    def secret_values(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if any(word in key for word in ("PASSWORD", "SECRET", "KEY", "DATABASE_URL")):
                    yield key, value
                yield from secret_values(value)

    for key, value in secret_values(raw_compose()):
        if isinstance(value, str):
            assert "${" in value, f"{key} in compose.yaml is a literal, not a reference to .env"


def test_the_image_never_contains_dot_env():
    assert ".env" in (PROJECT / ".dockerignore").read_text().splitlines()
