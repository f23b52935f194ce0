"""compose.yaml as Docker Compose would see it, with .env's values interpolated."""

import json
import os
import re
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
# The forms compose.yaml uses: ${NAME}, ${NAME:?message}, ${NAME:-default} and $$ (a literal $).
INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::([?-])([^}]*))?\}")


def read_env_file(path=PROJECT / ".env"):
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )


def interpolate(value, env):
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match):
        if match.group(0) == "$$":
            return "$"
        name, form, default = match.groups()
        if form == "-":
            return env.get(name) or default
        assert env.get(name), f"compose.yaml needs {name}, which .env does not set"
        return env[name]

    assert "$" not in INTERPOLATION.sub("", value), f"unsupported interpolation in {value!r}"
    return INTERPOLATION.sub(substitute, value)


@cache
def raw_compose():
    return yaml.safe_load((PROJECT / "compose.yaml").read_text())


@cache
def compose():
    return interpolate(raw_compose(), read_env_file())


def service_environment(name, env=None):
    """What a service's process gets: env_file first, then `environment` over it.

    `env` stands in for .env's values (default: the real file). An `environment` entry without a
    value passes the variable on from .env when set there, and is absent otherwise.
    """
    env = read_env_file() if env is None else env
    service = interpolate(raw_compose(), env)["services"][name]
    environment = dict(env) if service.get("env_file") == ".env" else {}
    for key, value in service.get("environment", {}).items():
        if value is not None:
            environment[key] = value
        elif key in env:
            environment[key] = env[key]
    return environment


# Where the electric image keeps its real entrypoint (Electric 0.12.1's Dockerfile).
IMAGE_ENTRYPOINT = "/app/bin/entrypoint"
# Stands in for it: prints the arguments and environment it was started with.
REPORT = "import json, os, sys; print(json.dumps({'args': sys.argv[1:], 'env': dict(os.environ)}))"


def electric_process(env=None):
    """The arguments and environment Electric's own entrypoint gets inside the electric container.

    compose.yaml's entrypoint script is run for real by bash, with the service's environment, and
    the image's entrypoint swapped for a script that reports what it was given.
    """
    service = interpolate(raw_compose(), read_env_file() if env is None else env)["services"][
        "electric"
    ]
    entrypoint, command = service["entrypoint"], service["command"]
    assert entrypoint[:2] == ["bash", "-c"]
    assert IMAGE_ENTRYPOINT in entrypoint[2]
    with tempfile.TemporaryDirectory() as folder:
        stand_in = os.path.join(folder, "entrypoint")
        with open(stand_in, "w") as script:
            script.write(f"#!{sys.executable}\n{REPORT}\n")
        os.chmod(stand_in, 0o755)
        result = subprocess.run(
            [*entrypoint[:2], entrypoint[2].replace(IMAGE_ENTRYPOINT, stand_in), *entrypoint[3:]]
            + command,
            env={"PATH": os.environ["PATH"], **service_environment("electric", env)},
            capture_output=True,
            text=True,
            check=True,
        )
    reported = json.loads(result.stdout)
    reported["env"].pop("PATH")
    return reported
