"""compose.yaml honours Electric 0.12's contract and agrees with .env and Django's settings.

No Docker here: the file is validated against the Compose specification and read as compose would
read it (tests/compose_file.py); the commands it runs are run for real in test_compose_commands.py.
"""

import base64
import binascii
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.compose_file import (
    PROJECT,
    compose,
    electric_process,
    interpolate,
    raw_compose,
    read_env_file,
    service_environment,
)
from tests.django_commands import setting

SECRETS = (
    "DJANGO_SECRET_KEY",
    "POSTGRES_PASSWORD",
    "PG_PROXY_PASSWORD",
    "AUTH_JWT_KEY",
{%- if cookiecutter.use_changefeed == "yes" %}
    "REDIS_PASSWORD",
{%- endif %}
)
# The services that run this project's image: migrate, web, and any the options added.
DJANGO_SERVICES = tuple(
    name for name, service in compose()["services"].items() if "build" in service
)


def test_compose_yaml_is_valid_against_the_compose_specification():
    result = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(PROJECT / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_electric_is_pinned_to_a_proxy_era_release():
    image = compose()["services"]["electric"]["image"]
    name, _, tag = image.partition(":")
    assert name == "electricsql/electric"
    assert re.fullmatch(r"0\.\d+(\.\d+)?", tag), f"{image} is not a pinned 0.x (proxy-era) tag"


def test_postgres_is_one_electric_serves_with_logical_replication_and_a_healthcheck():
    postgres = compose()["services"]["postgres"]
    major = int(re.fullmatch(r"postgres:(\d+)-alpine", postgres["image"]).group(1))
    # 14+ for Electric; 17 came after Electric 0.12.1, and 18 breaks ENABLE ELECTRIC.
    assert major in (14, 15, 16)
    options = dict(
        setting.split("=", 1)
        for flag, setting in zip(postgres["command"], postgres["command"][1:], strict=False)
        if flag == "-c"
    )
    assert options["wal_level"] == "logical"
    # Electric's two slots (one temporary) and one for a consumer of the project's own.
    assert int(options["max_replication_slots"]) >= 3
    assert int(options["max_wal_senders"]) >= 3
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose()["volumes"]


def database_url_parts(url):
    match = re.fullmatch(r"postgres(?:ql)?://([^:]+):([^@]+)@([^:/]+):(\d+)/(\w+)", url)
    assert match, url
    return match.groups()


def test_electric_reaches_postgres_without_tls_and_with_its_credentials():
    services = compose()["services"]
    electric = services["electric"]["environment"]
    postgres = services["postgres"]["environment"]

    user, password, host, port, database = database_url_parts(electric["DATABASE_URL"])
    assert (user, password, database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    assert (host, port) == ("postgres", "5432")
    # Electric 0.12 insists on TLS unless told otherwise; this Postgres has none.
    assert electric["DATABASE_REQUIRE_SSL"] == "false"
    assert services["electric"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_electric_writes_to_postgres_in_a_mode_that_needs_no_extra_networking():
    electric = compose()["services"]["electric"]["environment"]
    mode = electric.get("ELECTRIC_WRITE_TO_PG_MODE", "logical_replication")
    assert mode == "direct_writes" or electric.get("LOGICAL_PUBLISHER_HOST")


def test_electric_auth_matches_the_prompt_and_secure_mode_has_a_key():
    process = electric_process()
    electric = process["env"]
    assert process["args"] == ["start"]
    assert electric["AUTH_MODE"] == "{{ cookiecutter.electric_auth_mode }}"
    if electric["AUTH_MODE"] == "secure":
        assert electric["AUTH_JWT_ALG"] == "HS256"
        assert len(electric["AUTH_JWT_KEY"].encode()) >= 32
    else:
        assert "AUTH_JWT_KEY" not in electric


def test_electric_telemetry_is_off_and_electric_restarts_when_it_exits():
    electric = compose()["services"]["electric"]
    assert electric["environment"]["ELECTRIC_TELEMETRY"] == "disabled"
    assert electric["restart"] in ("always", "unless-stopped", "on-failure")


def test_ports_follow_the_prompts():
    services = compose()["services"]
    electric = services["electric"]
    assert electric["environment"]["HTTP_PORT"] == "{{ cookiecutter.electric_http_port }}"
    assert electric["environment"]["PG_PROXY_PORT"] == "{{ cookiecutter.pg_proxy_port }}"
    assert sorted(electric["ports"]) == sorted(
        [
            "127.0.0.1:{{ cookiecutter.electric_http_port }}:{{ cookiecutter.electric_http_port }}",
            "127.0.0.1:{{ cookiecutter.pg_proxy_port }}:{{ cookiecutter.pg_proxy_port }}",
        ]
    )
    assert services["postgres"]["ports"] == ["127.0.0.1:{{ cookiecutter.postgres_port }}:5432"]
    assert services["web"]["ports"] == ["127.0.0.1:{{ cookiecutter.django_port }}:{{ cookiecutter.django_port }}"]


def published_ports(env):
    """Every port compose publishes, as `address:host port:container port`, by service."""
    services = interpolate(raw_compose(), env)["services"]
    return {name: service["ports"] for name, service in services.items() if "ports" in service}


def test_every_port_is_published_on_loopback_only_unless_publish_address_says_otherwise():
    env = read_env_file()
    assert env["PUBLISH_ADDRESS"] == "127.0.0.1"
    # Short syntax, address first: the only form the setting can reach ("HOST:CONTAINER" alone
    # would publish on every interface).
    for name, ports in raw_compose()["services"].items():
        for port in ports.get("ports", []):
            address = "${PUBLISH_ADDRESS:-127.0.0.1}:"
            assert port.startswith(address), f"{name}: {port}"
            assert len(port.removeprefix(address).split(":")) == 2, f"{name}: {port}"

    for address, environment in [
        ("127.0.0.1", env),
        # A .env without the line (from before it existed, say): loopback all the same.
        ("127.0.0.1", {name: value for name, value in env.items() if name != "PUBLISH_ADDRESS"}),
        ("0.0.0.0", {**env, "PUBLISH_ADDRESS": "0.0.0.0"}),
        ("192.0.2.7", {**env, "PUBLISH_ADDRESS": "192.0.2.7"}),
    ]:
        published = published_ports(environment)
        expected = {"postgres", "electric", "web"{% if cookiecutter.use_changefeed == "yes" %}, "redis"{% endif %}}
        assert set(published) == expected
        for ports in published.values():
            assert {port.split(":")[0] for port in ports} == {address}


def django_settings_under(environment, name):
    """A Django setting as a service's process, with exactly this environment, would see it."""
    return setting(name, {"PATH": os.environ["PATH"], **environment})


@pytest.mark.parametrize("service", DJANGO_SERVICES)
def test_django_services_reach_postgres_and_the_proxy_with_electrics_password(service):
    services = compose()["services"]
    electric = services["electric"]["environment"]

    databases = django_settings_under(service_environment(service), "DATABASES")

    assert (databases["default"]["HOST"], databases["default"]["PORT"]) == ("postgres", 5432)
    proxy = databases["proxy"]
    assert proxy["HOST"] == "electric"
    assert str(proxy["PORT"]) == electric["PG_PROXY_PORT"]
    assert (
        proxy["PASSWORD"] == electric["PG_PROXY_PASSWORD"] == read_env_file()["PG_PROXY_PASSWORD"]
    )


# .env.example's optional auth lines, uncommented.
OPTIONAL_AUTH = {
    "AUTH_JWT_KEY_IS_BASE64_ENCODED": "true",
    "AUTH_JWT_NAMESPACE": "https://example.com/jwt/claims",
    "AUTH_JWT_ISS": "https://example.com",
    "AUTH_JWT_AUD": "electric",
}


@pytest.mark.parametrize("optional", [{}, OPTIONAL_AUTH], ids=["required-only", "optional-set"])
def test_electric_checks_tokens_with_the_settings_django_signs_them_with(optional):
    env = {**read_env_file(), **optional}
    electric = electric_process(env)["env"]
    web = service_environment("web", env)
    auth = django_settings_under(web, "ELECTRIC_AUTH")

    assert electric["AUTH_MODE"] == django_settings_under(web, "ELECTRIC_AUTH_MODE")
    # Both modes look for the user id under the namespace.
    assert electric.get("AUTH_JWT_NAMESPACE") == auth["NAMESPACE"]
    if electric["AUTH_MODE"] == "secure":
        assert (electric["AUTH_JWT_ALG"], electric["AUTH_JWT_KEY"]) == (auth["ALG"], auth["KEY"])
        base64_flag = electric.get("AUTH_JWT_KEY_IS_BASE64_ENCODED", "false")
        assert base64_flag == auth["KEY_IS_BASE64_ENCODED"]
        assert electric.get("AUTH_JWT_ISS") == auth["ISS"]
        assert electric.get("AUTH_JWT_AUD") == auth["AUD"]
    else:
        # Electric checks no signature: the key (and the claims it would check) stay out of it.
        assert electric["AUTH_MODE"] == "insecure"
        passed = {name for name in electric if name.startswith("AUTH_JWT_")}
        assert passed <= {"AUTH_JWT_NAMESPACE"}


# Electric 0.12.1's start-up rules for client auth, from its source (config/runtime.exs,
# lib/electric/config.ex, lib/electric/satellite/auth/{secure,insecure}.ex).
ELECTRIC_ALGS = {f"{family}{bits}" for family in ("HS", "RS", "ES") for bits in (256, 384, 512)}
ELECTRIC_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


def electric_refuses(environment):
    """Why Electric would refuse to start with this environment, or None if it would start."""
    mode = environment.get("AUTH_MODE", "secure")
    # Unset and blank options are dropped before validation.
    options = {
        name: value
        for name, value in environment.items()
        if name.startswith("AUTH_JWT_") and value.strip()
    }
    if mode not in ("insecure", "secure"):
        return f"AUTH_MODE {mode!r} is unknown"
    if mode == "insecure":
        extra = sorted(set(options) - {"AUTH_JWT_NAMESPACE"})
        return f"{extra[0]} is not valid in insecure mode" if extra else None
    alg, key = options.get("AUTH_JWT_ALG"), options.get("AUTH_JWT_KEY")
    if alg not in ELECTRIC_ALGS:
        return f"AUTH_JWT_ALG {alg!r} is unknown"
    if key is None:
        return "AUTH_JWT_KEY is not set"
    if not alg.startswith("HS"):
        return None if "-----BEGIN PUBLIC KEY-----" in key else "AUTH_JWT_KEY is not a PEM key"
    # A boolean to Electric's config library: anything but false or 0 is true.
    if options.get("AUTH_JWT_KEY_IS_BASE64_ENCODED", "false").lower() not in ("false", "0"):
        try:
            # Base.decode64(key, padding: false): the padding may be there or not.
            key = base64.b64decode(key + "=" * (-len(key) % 4), validate=True)
        except binascii.Error:
            return "AUTH_JWT_KEY has invalid base64 encoding"
    else:
        key = key.encode()
    if len(key) < ELECTRIC_HMAC_MIN_BYTES[alg]:
        return f"AUTH_JWT_KEY is too short for {alg}"
    return None


def auth_check_ids(environment):
    """The electric.E01x ids `manage.py check` reports with a Django service's environment."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--tag", "electric"],
        cwd=PROJECT,
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
    )
    ids = re.findall(r"\((electric\.E01\d)\)", result.stderr)
    assert (result.returncode == 0) == (ids == []), result.stderr
    return ids


def with_mode(mode, **changes):
    return {"ELECTRIC_AUTH_MODE": mode, **changes}


def b64(size, padded=True):
    encoded = base64.b64encode(os.urandom(size)).decode()
    return encoded if padded else encoded.rstrip("=")


# Each .env edit, what `manage.py check` says, and whether Electric would start.
AUTH_CASES = {
    # Switching modes as the README says: ELECTRIC_AUTH_MODE only.
    "insecure": (with_mode("insecure"), [], True),
    "secure": (with_mode("secure"), [], True),
    "insecure-all-options": (
        with_mode(
            "insecure",
            AUTH_JWT_KEY_IS_BASE64_ENCODED="false",
            AUTH_JWT_NAMESPACE="https://example.com/jwt/claims",
            AUTH_JWT_ISS="https://example.com",
            AUTH_JWT_AUD="electric",
        ),
        [],
        True,
    ),
    "secure-base64-unpadded": (
        with_mode(
            "secure", AUTH_JWT_KEY=b64(32, padded=False), AUTH_JWT_KEY_IS_BASE64_ENCODED="true"
        ),
        [],
        True,
    ),
    "secure-hs512": (with_mode("secure", AUTH_JWT_ALG="HS512", AUTH_JWT_KEY="k" * 64), [], True),
    "unknown-mode": (with_mode("Secure"), ["electric.E011"], False),
    "secure-no-key": (with_mode("secure", AUTH_JWT_KEY=""), ["electric.E010"], False),
    "secure-short-key": (with_mode("secure", AUTH_JWT_KEY="k" * 31), ["electric.E010"], False),
    "secure-hs384-short-key": (
        with_mode("secure", AUTH_JWT_ALG="HS384", AUTH_JWT_KEY="k" * 47),
        ["electric.E010"],
        False,
    ),
    "secure-base64-short": (
        with_mode("secure", AUTH_JWT_KEY=b64(31), AUTH_JWT_KEY_IS_BASE64_ENCODED="true"),
        ["electric.E010"],
        False,
    ),
    "secure-not-base64": (
        with_mode("secure", AUTH_JWT_KEY="not base64!" * 8, AUTH_JWT_KEY_IS_BASE64_ENCODED="true"),
        ["electric.E010"],
        False,
    ),
    "secure-unknown-alg": (with_mode("secure", AUTH_JWT_ALG="HS1024"), ["electric.E012"], False),
    "secure-rs256": (with_mode("secure", AUTH_JWT_ALG="RS256"), ["electric.E012"], False),
    # Electric reads "True" as true, so it would decode the raw key: "invalid base64".
    "secure-flag-True": (
        with_mode("secure", AUTH_JWT_KEY="not base64!" * 8, AUTH_JWT_KEY_IS_BASE64_ENCODED="True"),
        ["electric.E013"],
        False,
    ),
    # Electric would start, with another key than Django's: decoded by Electric, not by Django.
    "secure-flag-1": (
        with_mode("secure", AUTH_JWT_KEY=b64(48), AUTH_JWT_KEY_IS_BASE64_ENCODED="1"),
        ["electric.E013"],
        True,
    ),
    "insecure-flag-yes": (
        with_mode("insecure", AUTH_JWT_KEY_IS_BASE64_ENCODED="yes"),
        ["electric.E013"],
        True,
    ),
}


@pytest.mark.parametrize("case", AUTH_CASES)
def test_the_auth_checks_fire_exactly_when_electric_would_refuse_or_disagree(case):
    changes, expected_ids, electric_starts = AUTH_CASES[case]
    env = {**read_env_file(), **changes}

    refusal = electric_refuses(electric_process(env)["env"])

    assert (refusal is None) == electric_starts, refusal
    assert auth_check_ids(service_environment("web", env)) == expected_ids


class StatusServer(BaseHTTPRequestHandler):
    status = 200
    requests = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.requests.append(self.path)
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


def run_healthcheck(port):
    test = compose()["services"]["electric"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "bash"]
    script = test[-1].replace("/127.0.0.1/{{ cookiecutter.electric_http_port }}", f"/127.0.0.1/{port}")
    return subprocess.run(test[1:-1] + [script], capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False)])
def test_the_electric_healthcheck_asks_api_status(status, healthy):
    StatusServer.status, StatusServer.requests = status, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StatusServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = run_healthcheck(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()

    assert StatusServer.requests == ["/api/status"]
    assert (result.returncode == 0) == healthy, result.stderr


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_electric_healthcheck_fails_while_nothing_listens():
    assert run_healthcheck(free_port()).returncode != 0


def test_services_start_in_order():
    services = compose()["services"]
    assert services["migrate"]["depends_on"]["electric"]["condition"] == "service_healthy"
    for service in set(DJANGO_SERVICES) - {"migrate"}:
        condition = services[service]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
    assert services["migrate"]["restart"] == "no"
    if "consumer" in services:
        assert services["consumer"]["restart"] == "on-failure"


def manage_py_commands(service):
    command = compose()["services"][service]["command"]
    words = shlex.split(command[-1]) if command[0] == "sh" else command
    return [words[i + 1] for i, word in enumerate(words) if word == "manage.py"]


def test_migrate_waits_for_the_proxy_then_migrates_through_it():
    command = compose()["services"]["migrate"]["command"]
    assert command[:2] == ["sh", "-c"]
    script = command[2]
    wait, migrate = script.split(" && ")
    assert shlex.split(wait)[:4] == ["python", "manage.py", "wait_for_db", "--database=proxy"]
    assert shlex.split(migrate) == ["python", "manage.py", "migrate", "--database=proxy"]


@pytest.mark.parametrize("service", DJANGO_SERVICES)
def test_every_management_command_compose_runs_exists(service):
    for name in manage_py_commands(service):
        result = subprocess.run(
            [sys.executable, "manage.py", "help", name], cwd=PROJECT, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{service} runs `manage.py {name}`: {result.stderr}"


def test_no_secret_is_written_into_compose_yaml():
    text = (PROJECT / "compose.yaml").read_text()
    env = read_env_file()
    for name in SECRETS:
        assert env[name] not in text, f"the value of {name} is in compose.yaml"

    def secret_values(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if any(word in key for word in ("PASSWORD", "SECRET", "KEY", "URL", "AUTH")):
                    yield key, value
                yield from secret_values(value)

    for key, value in secret_values(raw_compose()):
        if isinstance(value, str):
            assert "${" in value, f"{key} in compose.yaml is a literal, not a reference to .env"


def test_the_image_never_contains_dot_env():
    assert ".env" in (PROJECT / ".dockerignore").read_text().splitlines()


@pytest.mark.parametrize("service", DJANGO_SERVICES)
def test_django_services_run_the_development_image_on_the_mounted_code(service):
    # runserver reloads on save, and `docker compose run --rm web python manage.py migrate
    # --database=proxy` sees the migration makemigrations just wrote.
    django = compose()["services"][service]
    assert django["build"] == {"context": ".", "target": "development"}
    assert ".:/app" in django["volumes"]


def test_the_development_image_has_what_the_test_suite_needs():
    dockerfile = (PROJECT / "Dockerfile").read_text()
    development = dockerfile.split(" AS development\n", 1)[1].split("\nFROM ", 1)[0]
    assert "pip install -r requirements-dev.txt" in development
    # pytest-postgresql starts its own server; the client tests run the electric-sql CLI.
    assert re.search(r"apt-get install .*postgresql nodejs npm", development)
    assert 'ENV PATH="/usr/lib/postgresql/15/bin:$PATH"' in development  # bookworm's PostgreSQL
    assert "USER django" in development  # PostgreSQL refuses to run as root


def test_runserver_serves_the_port_compose_publishes_and_the_client_forwards_to():
    web = compose()["services"]["web"]
    assert web["command"][:3] == ["python", "manage.py", "runserver"]
    address, port = web["command"][3].rsplit(":", 1)
    assert address == "0.0.0.0"  # inside the container; published on PUBLISH_ADDRESS only
    [published] = web["ports"]
    assert published.split(":")[1:] == [port, port]
    # Plain `./manage.py runserver` on this machine, .env's settings: the same port.
    assert str(django_settings_under({}, "DJANGO_PORT")) == port
    # The runserver commands the README (and docs/) show give no port (the default) or this one.
    documented = [PROJECT / "README.md", *sorted(PROJECT.glob("docs/**/*.md"))]
    commands = [
        (path.name, command_port)
        for path in documented
        for command_port in re.findall(
            r"manage\.py runserver(?:[ \t]+(?:\S+:)?(\d+)\b)?", path.read_text()
        )
    ]
    assert commands, "the README shows no `manage.py runserver`"
    assert {command_port for _, command_port in commands} <= {"", port}, commands
    # The client's dev server forwards /electric/ and /admin/ there.
    vite_config = PROJECT / "client" / "vite.config.ts"
    if vite_config.exists():
        assert set(re.findall(r"http://localhost:(\d+)", vite_config.read_text())) == {port}


def test_the_home_page_shows_electric_where_compose_publishes_it():
    http_port = compose()["services"]["electric"]["environment"]["HTTP_PORT"]
    url = f"http://localhost:{http_port}"
    assert django_settings_under(service_environment("web"), "ELECTRIC_URL") == url
    client_env = PROJECT / "client" / ".env"
    if client_env.exists():
        assert read_env_file(client_env)["ELECTRIC_SERVICE"] == url
{%- if cookiecutter.use_changefeed == "yes" %}


def test_redis_is_pinned_durable_as_the_redis_sink_requires_and_started_only_when_chosen():
    from changefeed.sinks.redis_streams import durability_problem

    services = compose()["services"]
    redis = services["redis"]
    name, _, tag = redis["image"].partition(":")
    assert name == "redis" and re.fullmatch(r"\d+\.\d+\.\d+-alpine", tag), redis["image"]
    command = redis["command"]
    assert command[0] == "redis-server"
    # ["--appendonly", "yes", ...] as CONFIG GET would answer: {"appendonly": "yes", ...}
    flags, values = command[1::2], command[2::2]
    config = {flag.removeprefix("--"): value for flag, value in zip(flags, values, strict=True)}
    assert durability_problem(config) is None, config
    assert redis["profiles"] == ["redis"]
    volume, mount = redis["volumes"][0].split(":")
    assert volume in compose()["volumes"] and mount == "/data"
    # The consumer waits for a healthy Redis when the profile runs it, and only then.
    assert services["consumer"]["depends_on"]["redis"] == {
        "condition": "service_healthy",
        "required": False,
    }


@pytest.mark.parametrize("service", DJANGO_SERVICES)
def test_django_services_reach_redis_by_its_service_name_with_its_password(service):
    url = django_settings_under(service_environment(service), "CHANGEFEED_REDIS_URL")
    assert url == f"redis://:{read_env_file()['REDIS_PASSWORD']}@redis:6379/0"


def test_redis_requires_the_password_from_dot_env_and_the_healthcheck_gives_it_unseen():
    redis = compose()["services"]["redis"]
    password = read_env_file()["REDIS_PASSWORD"]
    command = redis["command"]
    assert command[command.index("--requirepass") + 1] == password
    # redis-cli takes it from the environment, not from its command line (`ps` shows that).
    assert service_environment("redis")["REDISCLI_AUTH"] == password
    assert password not in " ".join(redis["healthcheck"]["test"])
    raw = raw_compose()["services"]["redis"]
    assert "${REDIS_PASSWORD:?set it in .env}" in raw["command"]


@pytest.fixture
def compose_redis(tmp_path):
    """redis-server started with compose's command (on a free local port, in a scratch folder),
    and a function that runs compose's healthcheck against it with a given environment."""
    import time

    redis = compose()["services"]["redis"]
    port = free_port()
    server = subprocess.Popen(
        [*redis["command"], "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    test = redis["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    script = test[1].replace("redis-cli", f"redis-cli -p {port}")

    def healthcheck(environment):
        result = subprocess.run(
            ["sh", "-c", script],
            env={"PATH": os.environ["PATH"], **environment},
            capture_output=True,
            text=True,
            timeout=10,
        )
        return result.returncode == 0

    try:
        deadline = time.monotonic() + 10
        while not healthcheck(service_environment("redis")):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
        healthcheck.port = port
        yield healthcheck
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_compose_redis_answers_only_with_the_password(compose_redis):
    import redis as redis_client

    assert compose_redis(service_environment("redis"))
    # Without the password, or with another, Redis answers NOAUTH or WRONGPASS: unhealthy.
    assert not compose_redis({})
    assert not compose_redis({"REDISCLI_AUTH": "not-the-password"})

    # The Django services' URL, pointed at this server instead of the `redis` service.
    url = django_settings_under(service_environment("consumer"), "CHANGEFEED_REDIS_URL")
    local = url.replace("@redis:6379/", f"@127.0.0.1:{compose_redis.port}/")
    with redis_client.Redis.from_url(local) as client:
        assert client.ping()
    client = redis_client.Redis(port=compose_redis.port)
    with client, pytest.raises(redis_client.AuthenticationError):
        client.ping()
{%- endif %}
