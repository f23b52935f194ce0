"""Remove the files of options left out; write this project's secrets into .env (and
client/.env), which git ignores.

.env is .env.example with every secret filled in: an empty `NAME=` line gets a fresh random value,
and `<NAME>` inside another value (DATABASE_URL) gets the same one. client/.env is
client/.env.example with the same `<NAME>` substitution (the proxy password the electric-sql CLI
logs in with). Secrets are URL-safe, so they
can sit inside connection URLs unescaped. Nothing here touches the network.
"""

import secrets
import shutil
from pathlib import Path

# Files of the options left out, as cookiecutter-django removes them.
LEFT_OUT = {
    "use_changefeed": ("changefeed", "benchmarks"),
}
ANSWERS = {"use_changefeed": "{{ cookiecutter.use_changefeed }}"}

SECRET_LENGTHS = {
    "DJANGO_SECRET_KEY": 50,
    "POSTGRES_PASSWORD": 24,
    "PG_PROXY_PASSWORD": 24,
    # Electric refuses an HS256 key shorter than 32 bytes; 48 random bytes give 64 characters.
    "AUTH_JWT_KEY": 48,
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


def remove_left_out_options(project: Path):
    for option, paths in LEFT_OUT.items():
        if ANSWERS[option] == "no":
            for path in paths:
                shutil.rmtree(project / path, ignore_errors=True)


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
        env_file.write_text(fill_secrets((folder / ".env.example").read_text(), values))
        env_file.chmod(0o600)


if __name__ == "__main__":
    main()
