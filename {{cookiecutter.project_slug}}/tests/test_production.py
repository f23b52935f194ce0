"""The production profile: `check --deploy` passes with production values, and gunicorn serves
the app and its static files (WhiteNoise), as the same image does in production."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

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


def test_insecure_electric_auth_fails_the_deploy_checks():
    env = {**PRODUCTION, "ELECTRIC_AUTH_MODE": "insecure"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 1
    assert "(electric.W020) ELECTRIC_AUTH_MODE is insecure" in result.stderr


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


def test_the_production_image_serves_the_app_and_its_static_files_with_gunicorn(tmp_path):
    # The production stage's own commands, here: collectstatic at build time, gunicorn to run.
    [collectstatic], command = dockerfile_stage("production")
    # Plain http here: no TLS proxy in front, so no redirect to https.
    env = {**PRODUCTION, "DJANGO_STATIC_ROOT": str(tmp_path), "DJANGO_SECURE_SSL_REDIRECT": "false"}
    collected = subprocess.run(
        ["sh", "-c", collectstatic.replace("python ", f"{sys.executable} ", 1)],
        cwd=PROJECT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert collected.returncode == 0, collected.stderr
    assert command[:2] == ["gunicorn", "config.wsgi"]
    port = free_port()
    bind = command.index("--bind") + 1
    command[bind] = f"127.0.0.1:{port}"
    server = subprocess.Popen(
        [BIN / command[0], *command[1:]],
        cwd=PROJECT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
