"""The production profile: `check --deploy` passes with production values, gunicorn serves the
app and its static files (WhiteNoise), as the same image does in production, and refuses to start
with insecure Electric auth (or token settings every request would fail on)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_ALLOWED_HOSTS": "app.example.com,127.0.0.1",
    "ELECTRIC_AUTH_MODE": "secure",
}


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_values_pass_the_deploy_checks():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_insecure_electric_auth_with_debug_off_is_an_error_even_without_deploy():
    env = {**PRODUCTION, "ELECTRIC_AUTH_MODE": "insecure"}
    for args in (["check"], ["check", "--deploy"]):
        result = manage(*args, env=env)

        assert result.returncode == 1, result.stderr
        assert "(electric.E021) ELECTRIC_AUTH_MODE is insecure while DEBUG is off" in result.stderr
        assert "ELECTRIC_ALLOW_INSECURE_AUTH=true" in result.stderr
        assert "electric.W020" not in result.stderr  # one message for one problem


def test_insecure_electric_auth_is_fine_for_local_development():
    result = manage("check", env={"DJANGO_DEBUG": "true", "ELECTRIC_AUTH_MODE": "insecure"})
    assert result.returncode == 0, result.stderr
    assert "electric.E021" not in result.stderr


def test_allowing_insecure_auth_explicitly_still_fails_the_deploy_checks_with_a_warning():
    env = {**PRODUCTION, "ELECTRIC_AUTH_MODE": "insecure", "ELECTRIC_ALLOW_INSECURE_AUTH": "true"}
    assert manage("check", env=env).returncode == 0

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 1
    assert "(electric.W020) ELECTRIC_AUTH_MODE is insecure" in result.stderr
    assert "electric.E021" not in result.stderr


def test_debug_turns_https_off_for_local_development():
    code = (
        "from django.conf import settings as s; import json; print(json.dumps([s.DEBUG, "
        "s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_PROXY_SSL_HEADER]))"
    )
    local = manage("shell", "-v", "0", "-c", code, env={"DJANGO_DEBUG": "true"})
    production = manage("shell", "-v", "0", "-c", code, env=PRODUCTION)

    assert json.loads(local.stdout) == [True, False, False, 0, None]
    assert json.loads(production.stdout) == [
        False,
        True,
        True,
        31_536_000,
        ["HTTP_X_FORWARDED_PROTO", "https"],
    ]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (local URL)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def dockerfile_stage(name):
    """The RUN commands and the CMD of one stage of the Dockerfile."""
    stage = PROJECT.joinpath("Dockerfile").read_text().split(f" AS {name}\n", 1)[1]
    stage = stage.split("\nFROM ", 1)[0].replace("\\\n", " ")
    runs = [line.removeprefix("RUN ") for line in stage.splitlines() if line.startswith("RUN ")]
    [cmd] = [json.loads(line.removeprefix("CMD ")) for line in stage.splitlines() if "CMD" in line]
    return runs, cmd


def collect_static(env):
    """The production stage's collectstatic, as `docker build` runs it."""
    [collectstatic], _ = dockerfile_stage("production")
    return subprocess.run(
        ["sh", "-c", collectstatic.replace("python ", f"{sys.executable} ", 1)],
        cwd=PROJECT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )


def gunicorn(env, port, **popen):
    """The production stage's CMD, bound to a local port instead of 0.0.0.0."""
    _, command = dockerfile_stage("production")
    assert command[:2] == ["gunicorn", "config.wsgi"]
    # The app loads before the workers fork: a refusal is one line, not a traceback per worker.
    assert "--preload" in command
    bind = command.index("--bind") + 1
    command[bind] = f"127.0.0.1:{port}"
    return subprocess.Popen(
        [BIN / command[0], *command[1:]], cwd=PROJECT, env={**os.environ, **env}, **popen
    )


def test_the_production_image_serves_the_app_and_its_static_files_with_gunicorn(tmp_path):
    # The production stage's own commands, here: collectstatic at build time, gunicorn to run.
    # Plain http here: no TLS proxy in front, so no redirect to https.
    env = {**PRODUCTION, "DJANGO_STATIC_ROOT": str(tmp_path), "DJANGO_SECURE_SSL_REDIRECT": "false"}
    collected = collect_static(env)
    assert collected.returncode == 0, collected.stderr
    port = free_port()
    server = gunicorn(env, port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status, headers, body = get(f"{base}/static/admin/css/base.css")
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.2)

        assert status == 200 and b"body" in body
        # WhiteNoise serves the compressed copy collectstatic made.
        status, headers, _ = get(f"{base}/static/admin/css/base.css", {"Accept-Encoding": "gzip"})
        assert status == 200 and headers.get("Content-Encoding") == "gzip"
        # The app itself, as the TLS proxy in front of it forwards a request: with HSTS.
        status, headers, body = get(f"{base}/electric/token/", {"X-Forwarded-Proto": "https"})
        assert status == 401 and json.loads(body) == {"error": "Sign in to get an Electric token."}
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_image_builds_whatever_the_auth_mode(tmp_path):
    # `docker build` has no .env: insecure by default, DEBUG off. collectstatic runs no auth checks.
    env = {
        "DJANGO_DEBUG": "false",
        "ELECTRIC_AUTH_MODE": "insecure",
        "DJANGO_STATIC_ROOT": str(tmp_path),
    }
    collected = collect_static(env)
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "admin" / "css" / "base.css").exists()


def refusal(env, tmp_path):
    """What the production CMD prints on stderr and exits with, given this environment."""
    env = {**PRODUCTION, "DJANGO_STATIC_ROOT": str(tmp_path), **env}
    server = gunicorn(env, free_port(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = server.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        server.terminate()
        server.communicate(timeout=10)
        raise AssertionError("gunicorn started instead of refusing") from None
    return server.returncode, [line for line in stderr.splitlines() if line.strip()]


REFUSALS = {
    "insecure-auth": ({"ELECTRIC_AUTH_MODE": "insecure"}, "electric.E021"),
    "expired-tokens": ({"ELECTRIC_TOKEN_LIFETIME_SECONDS": "-60"}, "electric.E014"),
    "undatable-tokens": ({"ELECTRIC_TOKEN_LIFETIME_SECONDS": "315360000000"}, "electric.E015"),
    "lower-case-alg": ({"AUTH_JWT_ALG": "hs256"}, "electric.E012"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_the_production_image_refuses_to_start_with_one_line(tmp_path, case):
    changes, check_id = REFUSALS[case]

    returncode, lines = refusal(changes, tmp_path)

    assert returncode != 0
    [line] = lines
    assert line.startswith("Error: Refusing to start: ")
    assert line.endswith(f"({check_id})")


def test_the_refusal_names_the_way_out(tmp_path):
    _, [line] = refusal({"ELECTRIC_AUTH_MODE": "insecure"}, tmp_path)
    assert line == (
        "Error: Refusing to start: ELECTRIC_AUTH_MODE is insecure while DEBUG is off: Electric "
        "accepts any token, unsigned, so any client can sync as any user. Set "
        "ELECTRIC_AUTH_MODE=secure (Django signs the tokens with AUTH_JWT_KEY); or, if an "
        "insecure production is really meant, ELECTRIC_ALLOW_INSECURE_AUTH=true. (electric.E021)"
    )


def test_the_production_image_starts_insecure_when_told_to(tmp_path):
    env = {
        **PRODUCTION,
        "ELECTRIC_AUTH_MODE": "insecure",
        "ELECTRIC_ALLOW_INSECURE_AUTH": "true",
        "DJANGO_STATIC_ROOT": str(tmp_path),
    }
    port = free_port()
    server = gunicorn(env, port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, _ = get(
                    f"http://127.0.0.1:{port}/electric/token/", {"X-Forwarded-Proto": "https"}
                )
                break
            except OSError:
                assert server.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.2)
        assert status == 401
    finally:
        server.terminate()
        server.wait(timeout=10)
