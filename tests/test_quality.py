"""The template's own code and workflows pass their linters with zero findings, offline."""

from __future__ import annotations

import os
import subprocess

import pytest

from .conftest import TEMPLATE


@pytest.mark.parametrize(
    "command",
    [
        ["actionlint", "-color=false"],
        ["zizmor", "--offline", "--persona", "pedantic", "--no-progress", ".github"],
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", ".github/workflows/ci.yml"],
        ["check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml"],
        ["yamllint", "--strict", "-c", "tests/yamllint.yaml", ".github"],
        ["shellcheck", "scripts/demo.sh", "scripts/image_smoke.sh"],
        ["ruff", "check", "hooks", "tests", "scripts"],
        ["ruff", "format", "--check", "hooks", "tests", "scripts"],
    ],
    ids=[
        "actionlint",
        "zizmor",
        "workflow-schema",
        "dependabot-schema",
        "yamllint",
        "shellcheck",
        "ruff-check",
        "ruff-format",
    ],
)
def test_the_template_has_no_findings(command: list[str]) -> None:
    # A GitHub token would send zizmor online; this check must stay offline.
    env = {key: value for key, value in os.environ.items() if key not in {"GH_TOKEN", "GITHUB_TOKEN"}}
    done = subprocess.run(command, cwd=TEMPLATE, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
