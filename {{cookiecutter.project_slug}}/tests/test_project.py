"""The project as a whole passes its own checks, whatever apps it holds."""

import pytest

from tests.django_commands import manage


@pytest.mark.parametrize(
    "command",
    [["check", "--fail-level", "WARNING"], ["makemigrations", "--check", "--dry-run"]],
)
def test_the_project_is_consistent(fresh_database, command):
    result = manage(fresh_database, *command, skip_ddlx=False)
    assert result.returncode == 0, result.stdout + result.stderr
