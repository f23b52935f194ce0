"""Bake the defaults and each non-default answer once, then run what the project itself ships."""

import json
import re
import shutil
import tomllib

import pytest
import yaml
from baking import bake_ok, run

UNRENDERED = re.compile(r"{{\s*cookiecutter|{%|cookiecutter\.")


def project_files(project):
    return [path for path in project.rglob("*") if path.is_file()]


def files_mentioning(project, pattern):
    """The project's files whose path or text matches `pattern`."""
    return [
        str(path.relative_to(project))
        for path in project_files(project)
        if pattern.search(str(path.relative_to(project)))
        or pattern.search(path.read_text(errors="replace"))
    ]


def test_the_defaults_bake_into_a_project_with_nothing_left_unrendered(default_project):
    assert default_project.name == "electric_notes"
    assert files_mentioning(default_project, UNRENDERED) == []


def setting(project, name):
    """A value from the project's settings module, as Django sees it."""
    code = f"import json; from django.conf import settings; print(json.dumps(settings.{name}))"
    result = run(project, "python", "manage.py", "shell", "--verbosity", "0", "--command", code)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_project_name_description_and_author_reach_the_project(cookies):
    project = bake_ok(
        cookies,
        project_name="Shop Floor",
        description='Counts "widgets" & more',
        author_name="Ada Lovelace",
        email="ada@example.org",
    )

    assert project.name == "shop_floor"
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["name"] == "shop_floor"
    assert metadata["description"] == 'Counts "widgets" & more'
    assert metadata["authors"] == [{"name": "Ada Lovelace", "email": "ada@example.org"}]
    assert (project / "README.md").read_text().startswith("# Shop Floor\n")


def test_time_zone_reaches_django(cookies):
    project = bake_ok(cookies, time_zone="Europe/Paris")
    assert setting(project, "TIME_ZONE") == "Europe/Paris"


def test_ports_reach_the_database_aliases(cookies):
    project = bake_ok(cookies, postgres_port="6543", pg_proxy_port="7654")

    databases = setting(project, "DATABASES")
    assert databases["default"]["PORT"] == 6543
    assert databases["proxy"]["PORT"] == 7654


# Each answer that changes compose.yaml, baked once: the project's own compose contract tests
# (tests/test_compose.py: specification, Electric's contract, agreement with .env and settings)
# must pass on it, and the answer must show where it belongs.
COMPOSE_ANSWERS = [
    ({}, {"postgres": "postgres:15-alpine", "electric": "electricsql/electric:0.12.1"}),
    ({"postgres_version": "16"}, {"postgres": "postgres:16-alpine"}),
    ({"postgres_version": "14"}, {"postgres": "postgres:14-alpine"}),
    ({"electric_version": "0.12"}, {"electric": "electricsql/electric:0.12"}),
    (
        {
            "postgres_port": "15432",
            "electric_http_port": "15133",
            "pg_proxy_port": "16543",
            "django_port": "18000",
        },
        {
            "ports": [
                "${PUBLISH_ADDRESS:-127.0.0.1}:15432:5432",
                "${PUBLISH_ADDRESS:-127.0.0.1}:15133:15133",
                "${PUBLISH_ADDRESS:-127.0.0.1}:16543:16543",
                "${PUBLISH_ADDRESS:-127.0.0.1}:18000:18000",
            ]
        },
    ),
    ({"electric_auth_mode": "secure"}, {"auth": "secure"}),
]


@pytest.mark.parametrize(
    "answers, expected", COMPOSE_ANSWERS, ids=[str(a) or "defaults" for a, _ in COMPOSE_ANSWERS]
)
def test_compose_yaml_follows_the_answers_and_keeps_electrics_contract(cookies, answers, expected):
    project = bake_ok(cookies, **answers)
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    services = compose["services"]

    if "postgres" in expected:
        assert services["postgres"]["image"] == expected["postgres"]
    if "electric" in expected:
        assert services["electric"]["image"] == expected["electric"]
    if "ports" in expected:
        # What `docker compose up` starts, on 127.0.0.1 unless .env's PUBLISH_ADDRESS says
        # otherwise; Redis, behind its profile, keeps its own port, on the same address.
        started = [service for service in services.values() if "profiles" not in service]
        published = [port for service in started for port in service.get("ports", [])]
        assert sorted(published) == sorted(expected["ports"])
        assert services["redis"]["profiles"] == ["redis"]
        assert services["redis"]["ports"] == ["${PUBLISH_ADDRESS:-127.0.0.1}:6379:6379"]
        assert "PUBLISH_ADDRESS=127.0.0.1" in (project / ".env").read_text().splitlines()
    if "auth" in expected:
        assert "AUTH_JWT_KEY" in services["electric"]["environment"]
        assert "ELECTRIC_AUTH_MODE=secure" in (project / ".env").read_text().splitlines()

    suites = [
        "tests/test_compose.py",
        # The electric-sql CLI in client/ shows the Postgres and Electric compose runs.
        "tests/test_client.py::test_show_config_describes_the_postgres_and_electric_compose_runs",
    ]
    if "ports" in expected:
        # It must find the service and proxy on the new ports; runserver serves the new one.
        suites += [
            "tests/test_client.py::test_the_electric_cli_finds_this_projects_service_and_proxy",
            "tests/test_runserver.py",
        ]
    result = run(project, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *suites)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    for lint in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        result = run(project, *lint)
        assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["python", "manage.py", "check", "--fail-level", "WARNING"],
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
    ],
)
def test_the_baked_project_passes_its_own_checks(default_project, command):
    result = run(default_project, *command)
    assert result.returncode == 0, result.stdout + result.stderr


def assert_its_test_suite_passes(project, *pytest_args):
    # A whole suite takes minutes (the defaults' about ten on two cores); a hung one still ends.
    result = run(
        project, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args, timeout=1800
    )

    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), summary
    assert "skipped" not in summary and "failed" not in summary, summary


def test_the_baked_project_passes_its_own_test_suite(default_project):
    assert_its_test_suite_passes(default_project, "-m", "")  # everything, the deep suites too


def test_a_secure_bake_passes_its_own_test_suite(cookies):
    # Secure mode changes compose.yaml, .env and the token Django signs, which the quick suite
    # covers (compose, settings, tokens, the client). The deep suites (migrations through the
    # proxy, the change feed end to end) do not depend on it, and ran on the defaults' bake.
    assert_its_test_suite_passes(bake_ok(cookies, electric_auth_mode="secure"))


CHANGE_FEED_WORDS = re.compile(
    r"changefeed|consume_changes|read_changes|change.feed|orjson|redis|debezium|snapshot"
    r"|\bfaults\b",
    re.IGNORECASE,
)


def assert_it_passes_its_checks_and_suite(project, *pytest_args):
    for command in (
        ["python", "manage.py", "check", "--fail-level", "WARNING"],
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
    ):
        result = run(project, *command)
        assert result.returncode == 0, result.stdout + result.stderr
    assert_its_test_suite_passes(project, *pytest_args)


def test_a_bake_without_the_change_feed_has_none_of_it_and_passes_its_suite(cookies):
    project = bake_ok(cookies, use_changefeed="no")

    assert files_mentioning(project, CHANGE_FEED_WORDS) == []
    assert_it_passes_its_checks_and_suite(project, "-m", "")


def test_a_bake_without_the_sample_app_passes_its_suite(cookies):
    # What a user does first: delete items/, its line in INSTALLED_APPS, and items as the change
    # feed's default table (the README says so). Nothing else may depend on it.
    project = bake_ok(cookies)
    shutil.rmtree(project / "items")
    settings = project / "config" / "settings.py"
    edited = settings.read_text().replace('    "items",\n', "", 1)
    edited = edited.replace('default=["items"]', "default=[]")
    settings.write_text(edited)
    assert '"items"' not in edited

    # The quick suite, and the deep suites of migrations (they migrate the whole project, which
    # had the sample's migrations). The change feed's deep suites use tables of their own, as
    # every change-feed test does, and ran on the defaults' bake.
    assert_it_passes_its_checks_and_suite(project)
    assert_its_test_suite_passes(project, "-m", "deep", "electric")
