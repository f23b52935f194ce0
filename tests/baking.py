"""Helpers shared by the template's tests."""

import os
import subprocess
import sys


def run(project, *command, env=None, timeout=600):
    """Run a command inside a baked project; the Python is the one running these tests."""
    if command[0] == "python":
        command = (sys.executable, *command[1:])
    return subprocess.run(
        command,
        check=False,
        cwd=project,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def bake_ok(cookies, **answers):
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    assert result.exception is None
    return result.project_path
