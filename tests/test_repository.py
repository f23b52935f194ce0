"""The template repository's own front door: its CI runs the test command the README gives."""

import re
from pathlib import Path

import yaml
from baking import run

TEMPLATE = Path(__file__).resolve().parent.parent


def readme_test_command():
    section = (TEMPLATE / "README.md").read_text().split("## Run the test suite", 1)[1]
    return re.search(r"```sh\n(.+?)\n```", section, re.DOTALL).group(1).strip()


def test_the_template_ci_workflow_is_valid_and_runs_the_readme_test_command():
    path = ".github/workflows/ci.yml"
    result = run(TEMPLATE, "check-jsonschema", "--builtin-schema", "vendor.github-workflows", path)
    assert result.returncode == 0, result.stdout + result.stderr

    steps = yaml.safe_load((TEMPLATE / path).read_text())["jobs"]["test"]["steps"]
    *setup, test = [step["run"] for step in steps if "run" in step]
    assert test == readme_test_command()
    # Before it, only system packages the runner's image lacks (as .ci/run installs them).
    assert all(
        re.fullmatch(r"command -v [\w-]+ \|\| sudo apt-get install .+", run) for run in setup
    )
