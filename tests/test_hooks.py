"""The pre-generation hook refuses bad answers; the post-generation hook writes the secrets."""

import importlib.util
import os
import re
import stat
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
from baking import bake_ok
from cookiecutter.main import cookiecutter

SECRETS = (
    "DJANGO_SECRET_KEY",
    "POSTGRES_PASSWORD",
    "PG_PROXY_PASSWORD",
    "AUTH_JWT_KEY",
    "REDIS_PASSWORD",  # the change feed's, there by default
)
TEMPLATE = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "answers, message",
    [
        ({"project_slug": "My-Project"}, "project_slug 'My-Project' must be a lower-case Python"),
        ({"project_slug": "2fast"}, "project_slug '2fast' must be a lower-case Python identifier"),
        ({"project_slug": "class"}, "project_slug 'class' is a Python keyword; choose another"),
        ({"project_slug": "match"}, "project_slug 'match' is a Python keyword; choose another"),
        ({"project_slug": "django"}, "project_slug 'django' would shadow the module 'django'"),
        ({"project_slug": "electric"}, "project_slug 'electric' would shadow the module"),
        ({"project_slug": "config"}, "project_slug 'config' would shadow the module"),
        ({"project_slug": "test"}, "project_slug 'test' would shadow the module"),
        ({"postgres_port": "5432x"}, "postgres_port '5432x' must be a whole number from 1 to"),
        ({"django_port": "0"}, "django_port '0' must be a whole number from 1 to 65535"),
        ({"pg_proxy_port": "70000"}, "pg_proxy_port '70000' must be a whole number from 1 to"),
        ({"electric_http_port": "8000"}, "django_port 8000 is already used by electric_http_port"),
        ({"pg_proxy_port": "5432"}, "pg_proxy_port 5432 is already used by postgres_port"),
        ({"electric_version": "1.0.0"}, "electric_version '1.0.0' must be a proxy-era 0.x tag"),
        ({"electric_version": "latest"}, "electric_version 'latest' must be a proxy-era 0.x"),
        ({"electric_version": "0.5.0"}, "electric_version '0.5.0' must be a proxy-era 0.x tag"),
        ({"time_zone": "Mars/Olympus"}, "time_zone 'Mars/Olympus' is not an IANA time zone"),
        ({"email": "nobody"}, "email 'nobody' is not an e-mail address"),
        ({"project_slug": 'a"b'}, "project_slug 'a\"b' must be a lower-case Python identifier"),
    ],
)
def test_a_bad_answer_stops_the_bake_with_one_line_and_leaves_nothing(
    cookies, capfd, tmp_path, answers, message
):
    result = cookies.bake(extra_context=answers)

    assert result.exit_code != 0
    assert result.project_path is None
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"ERROR: {message}")
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


# Postgres: Electric 0.12.1 needs 14+; 17 came after it, and 18 records NOT NULL as a constraint,
# which ENABLE ELECTRIC refuses on every column.
@pytest.mark.parametrize(
    "answers",
    [
        {"postgres_version": "13"},
        {"postgres_version": "17"},
        {"postgres_version": "18"},
        {"electric_auth_mode": "open"},
    ],
)
def test_cookiecutter_refuses_a_value_outside_a_choice_list(cookies, tmp_path, answers):
    result = cookies.bake(extra_context=answers)

    assert result.exit_code != 0
    [(prompt, value)] = answers.items()
    assert f"{value} provided for choice variable {prompt}" in str(result.exception)
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


def test_every_problem_is_reported_at_once(cookies, capfd):
    result = cookies.bake(extra_context={"electric_version": "1.1", "django_port": "http"})

    assert result.exit_code != 0
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 2


def read_env(project, name=".env"):
    return dict(
        line.split("=", 1)
        for line in (project / name).read_text().splitlines()
        if line and not line.startswith("#")
    )


def test_dot_env_gets_fresh_url_safe_secrets_and_is_private(cookies):
    first, second = read_env(bake_ok(cookies)), read_env(bake_ok(cookies))

    for name in SECRETS:
        assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", first[name]), name
        assert first[name] != second[name], f"{name} must differ between projects"
    assert len({first[name] for name in SECRETS}) == len(SECRETS)
    # Electric refuses an HS256 key shorter than 32 bytes.
    assert len(first["AUTH_JWT_KEY"].encode()) >= 32
    assert first["DATABASE_URL"] == (
        f"postgres://postgres:{first['POSTGRES_PASSWORD']}@localhost:5432/electric_notes"
    )


def test_dot_env_is_example_plus_secrets_and_ignored_by_git(default_project):
    env = read_env(default_project)
    example = read_env(default_project, ".env.example")

    assert set(env) == set(example)
    for name in SECRETS:
        assert example[name] == "", f"{name} must not have a value in .env.example"
    assert {name: value for name, value in env.items() if name not in SECRETS} == {
        name: value.replace("<POSTGRES_PASSWORD>", env["POSTGRES_PASSWORD"])
        for name, value in example.items()
        if name not in SECRETS
    }
    assert stat.S_IMODE((default_project / ".env").stat().st_mode) == 0o600
    assert ".env" in (default_project / ".gitignore").read_text().splitlines()


def test_client_dot_env_gets_the_proxy_password_and_is_private(default_project):
    env, client = read_env(default_project), read_env(default_project / "client")

    assert client["ELECTRIC_PROXY"] == (
        f"postgresql://postgres:{env['PG_PROXY_PASSWORD']}@localhost:65432/electric_notes"
    )
    example = read_env(default_project / "client", ".env.example")
    assert "<PG_PROXY_PASSWORD>" in example["ELECTRIC_PROXY"]
    assert stat.S_IMODE((default_project / "client" / ".env").stat().st_mode) == 0o600
    # The root .gitignore's `.env` covers client/.env too; .dockerignore keeps client/ out.
    assert ".env" in (default_project / ".gitignore").read_text().splitlines()
    assert "client/" in (default_project / ".dockerignore").read_text().splitlines()


def test_dot_env_example_documents_every_variable_settings_reads(default_project):
    settings = (default_project / "config" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]*)"', settings))
    example = (default_project / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))

    assert read, "settings.py should read its configuration from the environment"
    assert read - documented == set()


def test_baking_again_over_a_project_keeps_its_env_files_and_secrets(tmp_path):
    bake = partial(cookiecutter, str(TEMPLATE), no_input=True, output_dir=str(tmp_path))
    project = Path(bake())
    first = {name: (project / name).read_text() for name in (".env", "client/.env")}

    (project / "client" / ".env").unlink()  # one of them lost: written again, same secrets
    assert Path(bake(overwrite_if_exists=True)) == project

    assert (project / ".env").read_text() == first[".env"]
    assert (project / "client" / ".env").read_text() == first["client/.env"]


def test_the_redis_password_reaches_the_commented_local_url_too(default_project):
    env = read_env(default_project)
    text = (default_project / ".env").read_text()
    example = (default_project / ".env.example").read_text()

    # fill_secrets fills <NAME> on commented lines as well: uncommented, the line just works.
    local_url = "# CHANGEFEED_REDIS_URL=redis://:{}@localhost:6379/0"
    assert local_url.format("<REDIS_PASSWORD>") in example.splitlines()
    assert local_url.format(env["REDIS_PASSWORD"]) in text.splitlines()
    assert "<REDIS_PASSWORD>" not in text
    # compose reads it from .env, for Redis and for the Django services' URL.
    assert "${REDIS_PASSWORD:?set it in .env}" in (default_project / "compose.yaml").read_text()


def test_without_the_change_feed_there_is_no_redis_password(cookies):
    project = bake_ok(cookies, use_changefeed="no")

    for name in (".env", ".env.example", "compose.yaml", "README.md"):
        assert "REDIS_PASSWORD" not in (project / name).read_text(), name
    assert set(read_env(project)) == set(read_env(project, ".env.example"))


@contextmanager
def umask(mask):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def test_env_files_are_private_even_under_a_permissive_umask(cookies):
    with umask(0):
        project = bake_ok(cookies)

    for env_file in (project / ".env", project / "client" / ".env"):
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600, env_file
    # The other files follow the umask as usual: the 0600 is the hook's doing.
    assert stat.S_IMODE((project / ".env.example").stat().st_mode) & 0o044


def post_gen_hook():
    """hooks/post_gen_project.py as a module (its Jinja is inside a string: valid Python)."""
    spec = importlib.util.spec_from_file_location(
        "post_gen_project", TEMPLATE / "hooks" / "post_gen_project.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def creations(monkeypatch):
    """Every file the hook opens, with its flags and its mode the moment it exists."""
    created = []
    real_open = os.open

    def spying_open(path, flags, mode=0o777, *args, **kwargs):
        descriptor = real_open(path, flags, mode, *args, **kwargs)
        # Before a byte is written, or any chmod: what another user could open right now.
        created.append((Path(path).name, flags, stat.S_IMODE(os.fstat(descriptor).st_mode)))
        return descriptor

    monkeypatch.setattr(os, "open", spying_open)
    return created


def test_env_files_are_never_readable_by_others_not_even_while_written(tmp_path, creations):
    hook = post_gen_hook()
    (tmp_path / "client").mkdir()
    (tmp_path / ".env.example").write_text("DJANGO_SECRET_KEY=\nPOSTGRES_PASSWORD=\n")
    (tmp_path / "client" / ".env.example").write_text("X=postgres://u:<PG_PROXY_PASSWORD>@h/db\n")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        with umask(0):  # the most permissive: the mode given at creation is all that protects
            hook.main()
    finally:
        os.chdir(cwd)

    assert [name for name, _, _ in creations] == [".env", ".env"]
    for _, flags, mode in creations:
        # Created exclusively (never through an existing file or symlink), private from the start.
        assert flags & os.O_CREAT and flags & os.O_EXCL
        assert mode == 0o600
    assert "POSTGRES_PASSWORD=" in (tmp_path / ".env").read_text()
    assert "<PG_PROXY_PASSWORD>" not in (tmp_path / "client" / ".env").read_text()


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077, 0o377])
def test_write_private_gives_exactly_0600_whatever_the_umask(tmp_path, mask):
    path = tmp_path / ".env"
    with umask(mask):
        post_gen_hook().write_private(path, "SECRET=x\n")

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "SECRET=x\n"


def test_write_private_never_writes_through_an_existing_file_or_symlink(tmp_path):
    hook = post_gen_hook()
    target = tmp_path / "elsewhere"
    target.write_text("untouched\n")
    link = tmp_path / ".env"
    link.symlink_to(target)

    with pytest.raises(FileExistsError):
        hook.write_private(link, "SECRET=x\n")
    with pytest.raises(FileExistsError):
        hook.write_private(target, "SECRET=x\n")
    assert target.read_text() == "untouched\n"
