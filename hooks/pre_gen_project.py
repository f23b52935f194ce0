"""Refuse bad answers before cookiecutter renders a single file.

Validation only. Choice prompts (postgres_version, electric_auth_mode) need no rule here:
cookiecutter itself refuses a value outside their lists. Every rule below is one a generated project would otherwise break on later,
inside Docker or inside Electric's proxy, with a far less helpful message. Each refusal is one
line naming the prompt and the rule, and a non-zero exit, so cookiecutter removes the (still empty)
project directory.
"""

import keyword
import re
import sys
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ANSWERS = {
    "project_slug": {{ cookiecutter.project_slug|tojson }},
    "email": {{ cookiecutter.email|tojson }},
    "time_zone": {{ cookiecutter.time_zone|tojson }},
    "electric_version": {{ cookiecutter.electric_version|tojson }},
}
PORT_PROMPTS = {
    "postgres_port": {{ cookiecutter.postgres_port|tojson }},
    "electric_http_port": {{ cookiecutter.electric_http_port|tojson }},
    "pg_proxy_port": {{ cookiecutter.pg_proxy_port|tojson }},
    "django_port": {{ cookiecutter.django_port|tojson }},
}

# Top-level modules the generated project imports or ships: a slug with one of these names
# would shadow it on sys.path.
RESERVED_SLUGS = {
    "django", "environ", "psycopg", "psycopg2", "jwt", "pytest", "test", "tests", "config",
    "items", "users", "electric", "changefeed", "benchmarks", "manage", "conftest", "site",
    "typing",
}
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# Electric's proxy and DDLX exist only in the 0.x line; 1.x is a different product.
ELECTRIC_VERSION_PATTERN = re.compile(r"^0\.(\d+)(\.\d+)?$")
OLDEST_ELECTRIC_WITH_PROXY = 6
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+$")


def problems():
    slug = ANSWERS["project_slug"]
    if not SLUG_PATTERN.match(slug):
        yield (
            f"project_slug {slug!r} must be a lower-case Python identifier "
            "(letters, digits, underscores; starting with a letter)"
        )
    elif keyword.iskeyword(slug) or keyword.issoftkeyword(slug):
        yield f"project_slug {slug!r} is a Python keyword; choose another name"
    elif slug in RESERVED_SLUGS:
        yield f"project_slug {slug!r} would shadow the module {slug!r} that the project imports"

    if not EMAIL_PATTERN.match(ANSWERS["email"]):
        yield f"email {ANSWERS['email']!r} is not an e-mail address"

    try:
        ZoneInfo(ANSWERS["time_zone"])
    except (ZoneInfoNotFoundError, ValueError):
        yield f"time_zone {ANSWERS['time_zone']!r} is not an IANA time zone such as 'Europe/Paris'"

    match = ELECTRIC_VERSION_PATTERN.match(ANSWERS["electric_version"])
    if not match or int(match.group(1)) < OLDEST_ELECTRIC_WITH_PROXY:
        yield (
            f"electric_version {ANSWERS['electric_version']!r} must be a proxy-era 0.x tag "
            "such as 0.12.1 (Electric 1.x has no migrations proxy; 'latest' is 1.x)"
        )

    ports = {}
    for prompt, value in PORT_PROMPTS.items():
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            yield f"{prompt} {value!r} must be a whole number from 1 to 65535"
            continue
        if int(value) in ports:
            yield f"{prompt} {value} is already used by {ports[int(value)]}; host ports must differ"
        ports.setdefault(int(value), prompt)


def main():
    found = list(problems())
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
