"""The generated project's own tooling: pre-commit hooks, CI workflow, Dependabot, lock files.

Hook repositories cannot be cloned here, so each hook's tool runs at the version the config pins
(the same version requirements-dev.txt installs) over the files git would commit in a fresh bake.
"""

import re
import shutil
import tomllib
from importlib.metadata import version

import identify.identify
import yaml
from baking import run
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# The Python package behind each hook repository, and each hook as its repository defines it
# (entry point and the file types it runs on).
HOOK_PACKAGES = {
    "https://github.com/pre-commit/pre-commit-hooks": "pre-commit-hooks",
    "https://github.com/adamchainz/django-upgrade": "django-upgrade",
    "https://github.com/astral-sh/ruff-pre-commit": "ruff",
}
HOOKS = {
    "check-merge-conflict": (["check-merge-conflict"], {"text"}),
    "check-yaml": (["check-yaml"], {"yaml"}),
    "check-toml": (["check-toml"], {"toml"}),
    "check-json": (["check-json"], {"json"}),
    "end-of-file-fixer": (["end-of-file-fixer"], {"text"}),
    "trailing-whitespace": (["trailing-whitespace-fixer"], {"text"}),
    "debug-statements": (["debug-statement-hook"], {"python"}),
    "check-added-large-files": (["check-added-large-files"], {"file"}),
    "django-upgrade": (["django-upgrade"], {"python"}),
    "ruff-check": (["ruff", "check", "--force-exclude"], {"python"}),
    "ruff-format": (["ruff", "format", "--force-exclude"], {"python"}),
}


def committed_copy(project, tmp_path):
    """A copy of the bake as a git repository with everything git would commit staged."""
    copy = shutil.copytree(project, tmp_path / project.name)
    for command in (["git", "init", "-q"], ["git", "add", "-A"]):
        assert run(copy, *command).returncode == 0
    files = run(copy, "git", "ls-files").stdout.split()
    assert ".env" not in files and ".pre-commit-config.yaml" in files
    return copy, files


def test_every_pre_commit_hook_passes_on_a_fresh_bake_at_its_pinned_version(
    default_project, tmp_path
):
    project, files = committed_copy(default_project, tmp_path)
    result = run(project, "pre-commit", "validate-config", ".pre-commit-config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr

    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    ran = []
    for repo in config["repos"]:
        assert repo["rev"].removeprefix("v") == version(HOOK_PACKAGES[repo["repo"]]), repo["repo"]
        for hook in repo["hooks"]:
            entry, types = HOOKS[hook["id"]]
            selected = [f for f in files if types & identify.identify.tags_from_path(project / f)]
            assert selected, f"{hook['id']} would run on no file"
            result = run(project, *entry, *hook.get("args", []), *selected)
            assert result.returncode == 0, (hook["id"], result.stdout + result.stderr)
            ran.append(hook["id"])

    assert {"check-merge-conflict", "django-upgrade", "ruff-check", "ruff-format"} <= set(ran)
    # The fixers found nothing to fix: the working tree still equals what was staged.
    assert run(project, "git", "diff", "--name-only").stdout == ""


def test_the_ci_workflow_and_dependabot_config_are_valid(default_project):
    for path, schema in [
        (".github/workflows/ci.yml", "vendor.github-workflows"),
        (".github/dependabot.yml", "vendor.dependabot"),
    ]:
        result = run(default_project, "check-jsonschema", "--builtin-schema", schema, path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_ci_workflow_steps_pass_here(default_project, tmp_path):
    # As CI checks the project out: without the git-ignored .env files.
    project, _ = committed_copy(default_project, tmp_path)
    for env_file in (project / ".env", project / "client" / ".env"):
        env_file.unlink()
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    steps = {step["name"]: step for step in workflow["jobs"]["test"]["steps"] if "name" in step}

    for name in ("Install", "Lint", "Django's checks"):
        step = steps[name]
        result = run(project, "bash", "-ec", step["run"], env=step.get("env"))
        assert result.returncode == 0, (name, result.stdout[-3000:] + result.stderr[-3000:])
    # The suite itself: the very command test_bake.py runs on every bake.
    assert steps["Tests"]["run"] == 'python -m pytest -m ""'


def locked_versions(lock):
    """{name: version} of a lock file, asserting every entry carries hashes."""
    pins = {}
    for entry in re.split(r"\n(?=\S)", lock.read_text()):
        if entry.startswith("#") or not entry.strip():
            continue
        requirement = Requirement(entry.split("\\")[0].strip())
        assert "--hash=sha256:" in entry, requirement
        [spec] = requirement.specifier
        pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def test_the_lock_files_pin_what_pyproject_asks_for_and_all_it_pulls_in(default_project):
    project = tomllib.loads((default_project / "pyproject.toml").read_text())
    runtime = locked_versions(default_project / "requirements.txt")
    dev = locked_versions(default_project / "requirements-dev.txt")

    for wanted, lock in [
        (project["project"]["dependencies"], runtime),
        (project["project"]["dependencies"] + project["dependency-groups"]["dev"], dev),
    ]:
        for line in wanted:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert requirement.specifier.contains(lock[name]), (line, lock.get(name))
    # Transitive dependencies are pinned too, the same in both files.
    assert {"asgiref", "sqlparse"} <= set(runtime)
    assert {name: dev[name] for name in runtime} == runtime
