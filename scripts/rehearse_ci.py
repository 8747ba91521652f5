"""Rehearse a generated project's CI workflow here: every `run:` step of every job, in order.

Each step runs in the project with the `env:` the workflow, the job and the step set. A `uses:`
step is replaced by its local equivalent: the checkout is the project folder itself, Python and
uv are the ones on PATH, and the project's own composite actions (`$/.github/actions/...`) are
rehearsed step by step the same way. Any other action has no local equivalent and fails the
rehearsal, so a new one cannot slip in unrehearsed.

Usage: python scripts/rehearse_ci.py PROJECT [WORKFLOW]   (default .github/workflows/ci.yml)
Prints one line per step with its result and time; exits 1 at the first failing step.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

# Set-up actions whose local equivalent is already in place (a checkout, python3, uv on PATH).
PROVIDED = ("actions/checkout@", "actions/setup-python@", "astral-sh/setup-uv@")
SELF = "$/"
Step = tuple[str, str, dict[str, str]]  # label, shell command, environment


def steps(project: Path, workflow: Path) -> list[Step]:
    """(label, shell command, env) for every run step, composite actions expanded."""
    spec: dict[str, Any] = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    planned: list[Step] = []
    for job_id, job in spec["jobs"].items():
        env = {**spec.get("env", {}), **job.get("env", {})}
        planned += _expand(project, job_id, job["steps"], env)
    return planned


def _expand(project: Path, label: str, job_steps: list[dict[str, Any]], env: dict[str, Any]) -> list[Step]:
    planned: list[Step] = []
    for step in job_steps:
        step_env = {key: str(value) for key, value in {**env, **step.get("env", {})}.items()}
        uses = step.get("uses")
        if uses is None:
            planned.append((f"{label}: {step.get('name') or step['run']}", step["run"], step_env))
        elif uses.startswith(SELF):
            action = project / uses.removeprefix(SELF).split()[0] / "action.yml"
            composite = yaml.safe_load(action.read_text(encoding="utf-8"))["runs"]["steps"]
            planned += _expand(project, f"{label} > {action.parent.name}", composite, step_env)
        elif not uses.startswith(PROVIDED):
            raise SystemExit(f"{label}: no local equivalent for `uses: {uses}`")
    return planned


def main() -> int:
    project = Path(sys.argv[1]).resolve()
    workflow = project / (sys.argv[2] if len(sys.argv) > 2 else ".github/workflows/ci.yml")
    base = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "GH_TOKEN", "GITHUB_TOKEN"}}
    print(f"rehearsing {workflow.relative_to(project)} in {project}")
    for label, command, env in steps(project, workflow):
        started = time.perf_counter()
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", command],
            cwd=project,
            env=base | env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        print(f"  {'ok  ' if done.returncode == 0 else 'FAIL'} {seconds:6.1f}s  {label}", flush=True)
        if done.returncode != 0:
            print(done.stdout[-4000:] + done.stderr[-4000:])
            return 1
    print("every step passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
