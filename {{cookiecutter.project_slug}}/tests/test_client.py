"""client/ as Electric's own TypeScript client (electric-sql, pinned by client/package-lock.json)
sees it.

The npm packages are installed once per lock file into a cache outside the project (npm ci
--ignore-scripts: prisma's engines and better-sqlite3's native build are needed by neither the CLI's
configuration nor the token decoder, and come from outside the npm registry). Without Node.js and
npm these tests fail: install them (Debian: apt-get install nodejs npm), or delete client/.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.urls import reverse

from tests.compose_file import PROJECT, compose, electric_process, raw_compose, read_env_file

CLIENT = PROJECT / "client"
pytestmark = pytest.mark.skipif(not CLIENT.is_dir(), reason="client/ was deleted")


def tool(name):
    path = shutil.which(name)
    assert path, f"{name} not found: install Node.js 18+ and npm to test client/, or delete client/"
    return path


@pytest.fixture(scope="session")
def node_modules():
    """client/'s packages, installed by `npm ci` from its lock file into a shared cache."""
    manifests = [CLIENT / "package.json", CLIENT / "package-lock.json"]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in manifests)).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    installed = cache / "electric-client-packages" / digest
    if not (installed / "node_modules" / "electric-sql" / "package.json").is_file():
        installed.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=installed.parent))
        for path in manifests:
            shutil.copy(path, staging)
        result = subprocess.run(
            [tool("npm"), "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        try:
            staging.rename(installed)
        except OSError:  # installed meanwhile by another run
            shutil.rmtree(staging)
    return installed / "node_modules"


@pytest.fixture
def client_copy(tmp_path, node_modules):
    """client/ as the user has it after `npm install`: its files, and the packages beside them."""
    copy = tmp_path / "client"
    shutil.copytree(CLIENT, copy, ignore=shutil.ignore_patterns("node_modules", "generated"))
    (copy / "node_modules").symlink_to(node_modules, target_is_directory=True)
    return copy


def run(folder, *command):
    # Only what a shell would have: no ELECTRIC_* variable of the test run leaks in.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(folder)),
        "npm_config_update_notifier": "false",
    }
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def run_in(folder, *command):
    result = run(folder, *command)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


PRINT_CONFIG = (
    "node -e 'console.log(JSON.stringify(Object.fromEntries(Object.entries(process.env)"
    '.filter(([name]) => name.startsWith("ELECTRIC_")))))\''
)


def test_the_electric_cli_finds_this_projects_service_and_proxy(client_copy):
    env = read_env_file()
    electric = compose()["services"]["electric"]
    http_port = electric["environment"]["HTTP_PORT"]
    proxy_port = electric["environment"]["PG_PROXY_PORT"]
    # Both published on the same port on this machine (127.0.0.1: PUBLISH_ADDRESS in .env).
    assert f"127.0.0.1:{http_port}:{http_port}" in electric["ports"]
    assert f"127.0.0.1:{proxy_port}:{proxy_port}" in electric["ports"]

    shown = run_in(client_copy, "npx", "--no-install", "electric-sql", "show-config")
    assert f"SERVICE: 'http://localhost:{http_port}'" in shown
    assert f"PG_PROXY_PORT: '{proxy_port}'" in shown
    assert f"DATABASE_NAME: '{env['POSTGRES_DB']}'" in shown
    proxy = f"postgresql://postgres:******@localhost:{proxy_port}/{env['POSTGRES_DB']}"
    assert f"PROXY: '{proxy}'" in shown

    # show-config hides the password; with-config hands the resolved values to a command.
    config = json.loads(
        run_in(client_copy, "npx", "--no-install", "electric-sql", "with-config", PRINT_CONFIG)
    )
    assert config["ELECTRIC_SERVICE"] == f"http://localhost:{http_port}"
    assert config["ELECTRIC_PG_PROXY_PASSWORD"] == env["PG_PROXY_PASSWORD"]
    assert config["ELECTRIC_PROXY"] == (
        f"postgresql://postgres:{env['PG_PROXY_PASSWORD']}@localhost:{proxy_port}/"
        f"{env['POSTGRES_DB']}"
    )
    # `generate` logs into the proxy as prisma, with these host, port, password and database.
    assert (config["ELECTRIC_PG_PROXY_HOST"], config["ELECTRIC_PG_PROXY_PORT"]) == (
        "localhost",
        proxy_port,
    )
    assert config["ELECTRIC_DATABASE_NAME"] == env["POSTGRES_DB"]


def show_config(folder):
    """What `npx electric-sql show-config` prints, and its values as printed (passwords starred,
    numbers and booleans as text), by the CLI's name for each."""
    printed = run_in(folder, "npx", "--no-install", "electric-sql", "show-config")
    values = re.findall(r"^  (\w+): (.*?),?$", printed, re.MULTILINE)
    return printed, {name: value.removeprefix("'").removesuffix("'") for name, value in values}


def cli_variable(name):
    """The environment variable the CLI reads a setting from (ELECTRIC_ prefixed)."""
    return name if name.startswith("ELECTRIC_") else f"ELECTRIC_{name}"


def test_show_config_describes_the_postgres_and_electric_compose_runs(client_copy):
    services = compose()["services"]
    printed, shown = show_config(client_copy)
    resolved = json.loads(
        run_in(client_copy, "npx", "--no-install", "electric-sql", "with-config", PRINT_CONFIG)
    )

    assert shown["ELECTRIC_IMAGE"] == services["electric"]["image"]
    assert shown["POSTGRESQL_IMAGE"] == services["postgres"]["image"]

    # Each setting compose gives Electric that the CLI has too, as Electric gets it.
    declared = services["electric"]["environment"]
    electric = electric_process()["env"]
    compared = set()
    for name in (set(declared) & set(shown)) - {"DATABASE_URL"}:
        if name.startswith("AUTH_JWT_"):
            # Never in client/.env: show-config would print AUTH_JWT_KEY as it is.
            assert shown[name] == "undefined", name
        elif shown[name] == "******":
            assert resolved[cli_variable(name)] == electric[name], name
        else:
            assert shown[name] == electric[name], name
        compared.add(name)
    assert compared >= {
        "AUTH_MODE",
        "DATABASE_REQUIRE_SSL",
        "ELECTRIC_TELEMETRY",
        "ELECTRIC_USE_IPV6",
        "ELECTRIC_WRITE_TO_PG_MODE",
        "HTTP_PORT",
        "PG_PROXY_PASSWORD",
        "PG_PROXY_PORT",
    }

    # Postgres: Electric's DATABASE_URL inside the compose network, from this machine.
    url = re.fullmatch(r"postgresql://(\w+):([^@]+)@postgres:(\d+)/(\w+)", declared["DATABASE_URL"])
    user, password, port, database = url.groups()
    [published] = services["postgres"]["ports"]
    _, host_port, container_port = published.split(":")
    assert container_port == port
    where = f"localhost:{host_port}/{database}"
    assert shown["DATABASE_URL"] == f"postgresql://{user}:******@{where}"
    assert resolved["ELECTRIC_DATABASE_URL"] == f"postgresql://{user}:{password}@{where}"
    assert shown["DATABASE_NAME"] == services["postgres"]["environment"]["POSTGRES_DB"]

    # The generated client goes where src/main.ts imports it from (and `npm run build` checks).
    assert shown["CLIENT_PATH"] == "src/generated/client"
    assert 'from "./generated/client"' in (CLIENT / "src" / "main.ts").read_text()
    # The CLI's own docker commands (start, stop --remove...) keep away from this project's.
    assert shown["CONTAINER_NAME"] != raw_compose().get("name", PROJECT.name)
    # And no secret is printed.
    env = read_env_file()
    for secret in ("POSTGRES_PASSWORD", "PG_PROXY_PASSWORD", "AUTH_JWT_KEY", "DJANGO_SECRET_KEY"):
        assert env[secret] not in printed, secret


def test_vite_hands_the_browser_nothing_but_electrics_url():
    # client/.env (made from .env.example) holds passwords: Vite exposes only the variables that
    # start with its envPrefix.
    prefix = re.search(r'envPrefix: "(\w+)"', (CLIENT / "vite.config.ts").read_text()).group(1)
    names = read_env_file(CLIENT / ".env.example")
    exposed = {name for name in names if name.startswith(prefix)}
    assert exposed == {"ELECTRIC_SERVICE"}


MISSING_CLIENT = (
    "client/src/generated/client is missing: start Electric (docker compose up -d) and run "
    "`npm run generate` first"
)


def test_building_before_generating_says_what_to_do_in_one_line(client_copy):
    assert not (client_copy / "src" / "generated").exists()

    check = run(client_copy, tool("node"), "scripts/check-generated.js")
    assert (check.returncode, check.stdout, check.stderr) == (1, "", MISSING_CLIENT + "\n")

    # npm runs it first (prebuild), so the build stops there, before Vite's stack trace.
    build = run(client_copy, tool("npm"), "run", "build")
    assert build.returncode != 0
    assert MISSING_CLIENT in build.stderr.splitlines()
    assert "Could not resolve" not in build.stdout + build.stderr


def test_the_build_check_passes_once_the_client_is_generated(client_copy):
    generated = client_copy / "src" / "generated" / "client"
    generated.mkdir(parents=True)
    (generated / "index.ts").write_text("export const schema = {};\n")

    check = run(client_copy, tool("node"), "scripts/check-generated.js")

    assert (check.returncode, check.stdout, check.stderr) == (0, "", "")


DECODE = """
import { decodeUserIdFromToken } from "electric-sql/auth/secure";

const tokens = JSON.parse(process.argv[2]);
console.log(JSON.stringify(tokens.map((token) => decodeUserIdFromToken(token))));
"""


@pytest.mark.parametrize("mode", ["insecure", "secure"])
def test_electrics_client_reads_the_user_id_from_djangos_tokens(
    client_copy, client, django_user_model, settings, mode
):
    user = django_user_model.objects.create_user(username="ada")
    client.force_login(user)
    settings.ELECTRIC_AUTH_MODE = mode
    tokens = []
    for namespace in (None, "https://example.com/jwt/claims"):
        settings.ELECTRIC_AUTH = {**settings.ELECTRIC_AUTH, "NAMESPACE": namespace}
        response = client.get(reverse("electric:token"))
        assert response.status_code == 200, response.content
        tokens.append(response.json()["token"])

    script = client_copy / "decode.mjs"
    script.write_text(DECODE)
    decoded = json.loads(run_in(client_copy, tool("node"), str(script), json.dumps(tokens)))

    assert decoded == [str(user.pk), str(user.pk)]
