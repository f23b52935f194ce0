"""The commands compose.yaml runs, run for real against the tests' PostgreSQL.

No Electric runs here: the `proxy` alias is pointed at Postgres itself and ENABLE ELECTRIC is
skipped (ELECTRIC_SKIP_DDLX=true). That proves the commands and the wiring, not Electric.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

from tests.compose_file import PROJECT, compose, service_environment
from tests.django_commands import database_environment, manage


def local_environment(service, database, **overrides):
    """The service's compose environment, with its hosts swapped for the tests' Postgres."""
    return {
        **service_environment(service),
        # `python` in compose's commands is this interpreter here.
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
        **database_environment(database, skip_ddlx=True),
        **overrides,
    }


def applied_migrations_plan(database):
    plan = manage(database, "migrate", "--plan", skip_ddlx=False)
    assert plan.returncode == 0, plan.stderr
    return plan.stdout.strip().splitlines()[-1].strip()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_migrate_service_waits_for_the_proxy_and_migrates_through_it(fresh_database):
    result = subprocess.run(
        compose()["services"]["migrate"]["command"],
        cwd=PROJECT,
        env=local_environment("migrate", fresh_database),
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stderr
    assert "accepts connections" in result.stdout
    assert "Applying users.0001_initial... OK" in result.stdout
    # Every migration of the project ran: nothing is left for the default alias either.
    assert applied_migrations_plan(fresh_database) == "No planned migration operations."


def test_the_web_service_serves_django(fresh_database):
    env = local_environment("web", fresh_database)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--database=proxy", "-v", "0"],
        cwd=PROJECT,
        env=env,
        check=True,
    )
    command = compose()["services"]["web"]["command"]
    assert command[-2:-1] == ["runserver"]
    # The compose command, on a free local port instead of 0.0.0.0:{{ cookiecutter.django_port }}.
    port = free_port()
    server = subprocess.Popen(
        [*command[:-1], f"127.0.0.1:{port}", "--noreload"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        while status is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/") as response:
                    status = response.status
            except OSError:
                time.sleep(0.2)
        assert status == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_web_settings_pass_djangos_deployment_checks_but_for_https(fresh_database):
    # What compose runs is a development server (DEBUG=true): only HTTPS-related deploy warnings
    # are expected; anything else (a weak SECRET_KEY, say) fails. Secure Electric auth, as DEBUG
    # off requires (electric.E021; tests/test_production.py).
    env = local_environment(
        "web", fresh_database, DJANGO_DEBUG="false", ELECTRIC_AUTH_MODE="secure"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    warnings = set(re.findall(r"\((security\.W\d+)\)", result.stderr))
    https_only = {"security.W004", "security.W008", "security.W012", "security.W016"}
    assert warnings <= https_only, result.stderr


def test_wait_for_db_returns_once_the_database_answers(fresh_database):
    result = subprocess.run(
        [sys.executable, "manage.py", "wait_for_db", "--database=proxy", "--timeout", "10"],
        cwd=PROJECT,
        env=local_environment("migrate", fresh_database),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Database 'proxy' (")


def test_wait_for_db_gives_up_on_a_closed_port_within_its_timeout(fresh_database):
    env = local_environment("migrate", fresh_database, ELECTRIC_PROXY_PORT=str(free_port()))
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "wait_for_db",
            "--database=proxy",
            "--timeout",
            "2",
            "--interval",
            "0.5",
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: Database 'proxy' (")
    assert "did not accept connections within 2s" in line
    # Python start-up plus the 2 s; never the default minute-long wait.
    assert 2 <= elapsed < 15


def test_wait_for_db_refuses_bad_options_with_one_line():
    for args, message in [
        (["--database=nope"], "Unknown database alias 'nope'; choose one of: default, proxy."),
        (["--timeout=0"], "--timeout and --interval must be positive numbers of seconds."),
    ]:
        result = subprocess.run(
            [sys.executable, "manage.py", "wait_for_db", *args],
            cwd=PROJECT,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 1
        assert result.stderr.strip() == f"CommandError: {message}"
