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
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.urls import reverse

from tests.compose_file import PROJECT, compose, read_env_file

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


def run_in(folder, *command):
    # Only what a shell would have: no ELECTRIC_* variable of the test run leaks in.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(folder))}
    result = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
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
