"""A generated project can be updated from a newer template with cruft, secrets untouched."""

import shutil
from pathlib import Path

from baking import run

TEMPLATE = Path(__file__).resolve().parent.parent
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(where, *args):
    result = run(where, "git", *args, env=GIT_IDENTITY)
    assert result.returncode == 0, result.stderr
    return result.stdout


def template_repository(tmp_path):
    """This template's files as a git repository of their own, the way cruft expects one."""
    copy = tmp_path / "template"
    ignored = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache")
    shutil.copytree(TEMPLATE, copy, ignore=ignored)
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "template")
    return copy


def cruft(where, *args):
    return run(where, "cruft", *args, env=GIT_IDENTITY)


def test_a_project_takes_a_template_change_and_keeps_its_secrets(tmp_path):
    template = template_repository(tmp_path)
    created = cruft(tmp_path, "create", "--no-input", "--output-dir", "projects", str(template))
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / "projects" / "electric_notes"
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "baked")
    secrets = (project / ".env").read_text()
    assert "AUTH_JWT_KEY=" in secrets and cruft(project, "check").returncode == 0
    # The project differs from a fresh render only by its secrets, which cruft must not show.
    diff = cruft(project, "diff", "--exit-code")
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert diff.stdout == ""

    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nA line the template added later.\n")
    git(template, "commit", "-q", "-am", "template: a new line")

    assert cruft(project, "check").returncode != 0  # out of date now
    updated = cruft(project, "update", "--skip-apply-ask", "--allow-untracked-files")
    assert updated.returncode == 0, updated.stdout + updated.stderr

    assert (project / "README.md").read_text().endswith("A line the template added later.\n")
    assert (project / ".env").read_text() == secrets
    assert list(project.rglob("*.rej")) == []
    assert cruft(project, "check").returncode == 0
