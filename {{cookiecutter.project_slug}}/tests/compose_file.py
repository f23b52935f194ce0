"""compose.yaml as Docker Compose would see it, with .env's values interpolated."""

import re
from functools import cache
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
# The forms compose.yaml uses: ${NAME}, ${NAME:?message} and $$ (a literal $).
INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::\?[^}]*)?\}")


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
        name = match.group(1)
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
