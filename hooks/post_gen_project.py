"""Remove the files of options left out; write this project's secrets into .env (and
client/.env), which git ignores.

.env is .env.example with every secret filled in: an empty `NAME=` line gets a fresh random value,
and `<NAME>` inside another value (DATABASE_URL) gets the same one. client/.env is
client/.env.example with the same `<NAME>` substitution (the proxy password the electric-sql CLI
logs in with, and Postgres' in its DATABASE_URL). `<NAME>` is filled on commented lines too (the example CHANGEFEED_REDIS_URL), so
an example to uncomment already carries the project's secret. Secrets are URL-safe, so they can sit
inside connection URLs unescaped. Both files are created private (0600): never readable by others,
not even for a moment. Nothing here touches the network.
"""

import os
import secrets
import shutil
from pathlib import Path

# Files of the options left out, as cookiecutter-django removes them.
LEFT_OUT = {
    "use_changefeed": ("changefeed", "benchmarks", "docs/changefeed.md"),
}
ANSWERS = {"use_changefeed": "{{ cookiecutter.use_changefeed }}"}

SECRET_LENGTHS = {
    "DJANGO_SECRET_KEY": 50,
    "POSTGRES_PASSWORD": 24,
    "PG_PROXY_PASSWORD": 24,
    # Electric refuses an HS256 key shorter than 32 bytes; 48 random bytes give 64 characters.
    "AUTH_JWT_KEY": 48,
    # compose's redis service (--requirepass) and the Django services' CHANGEFEED_REDIS_URL; only
    # in .env when .env.example has the line (the change feed's option).
    "REDIS_PASSWORD": 24,
}


def fill_secrets(example: str, values: dict[str, str]) -> str:
    lines = []
    for line in example.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and name in values and not value:
            line = f"{name}={values[name]}"
        for secret_name, secret in values.items():
            line = line.replace(f"<{secret_name}>", secret)
        lines.append(line)
    return "\n".join(lines) + "\n"


def read_secrets(env_file: Path) -> dict[str, str]:
    """The secrets an existing .env already holds."""
    if not env_file.exists():
        return {}
    pairs = (line.partition("=") for line in env_file.read_text().splitlines())
    return {name: value for name, sep, value in pairs if sep and name in SECRET_LENGTHS and value}


def write_private(path: Path, text: str):
    """Create `path` readable and writable by its owner only, from the start.

    Created with mode 0600 (a umask can only take bits away) and exclusively: an existing file, or
    a symlink planted in its place, is never written through. fchmod then makes it exactly 0600,
    whatever the umask took away (Windows has no fchmod before Python 3.13, nor these modes).
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        if hasattr(os, "fchmod"):
            os.fchmod(descriptor, 0o600)
        file.write(text)


def remove_left_out_options(project: Path):
    for option, paths in LEFT_OUT.items():
        if ANSWERS[option] == "no":
            for path in paths:
                target = project / path
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)


def main():
    project = Path.cwd()
    remove_left_out_options(project)
    # Baked again over an existing project (--overwrite-if-exists), keep its .env files and
    # secrets: new ones would lock it out of its own database.
    fresh = {name: secrets.token_urlsafe(size) for name, size in SECRET_LENGTHS.items()}
    values = {**fresh, **read_secrets(project / ".env")}
    for folder in (project, project / "client"):
        env_file = folder / ".env"
        if env_file.exists() or not (folder / ".env.example").exists():
            continue
        write_private(env_file, fill_secrets((folder / ".env.example").read_text(), values))


if __name__ == "__main__":
    main()
