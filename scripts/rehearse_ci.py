"""Rehearse a generated project's CI workflow here: every `run:` step of every job, in order.

Each step runs in the project with the `env:` the workflow, the job and the step set. A `uses:`
step is replaced by its local equivalent: the checkout is the project folder itself, Python and
uv are the ones on PATH, and the project's own composite actions (`$/.github/actions/...`) are
rehearsed step by step the same way. Any other action has no local equivalent and fails the
rehearsal, so a new one cannot slip in unrehearsed; an upload of artifacts leaves the files where
they are. A step's `if: hashFiles('<file>') != ''` (optionally after `always() && `) runs it only
when the file exists at that moment, and `${{ vars.X }}` or `${{ secrets.X }}` is empty, as for a
repository without them. A job with an `if:` (publishing from main, which only GitHub can do) is
listed as skipped, with every job that needs it.

Usage: python scripts/rehearse_ci.py PROJECT [WORKFLOW]   (default .github/workflows/ci.yml)
Prints one line per step with its result and time; exits 1 at the first failing step.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

# Set-up actions whose local equivalent is already in place (a checkout, python3, uv on PATH).
PROVIDED = ("actions/checkout@", "actions/setup-python@", "astral-sh/setup-uv@")
SELF = "$/"
NO_LOCAL_EFFECT = ("actions/upload-artifact@",)  # the files stay in the project folder
HASH_FILES = re.compile(r"(?:always\(\) && )?hashFiles\('([^']+)'\) != ''")
UNSET = re.compile(r"\$\{\{ (?:vars|secrets)\.\w+ \}\}")  # a repository without them: empty strings
Step = tuple[str, str, dict[str, str]]  # label, shell command, environment


def skipped_jobs(spec: dict[str, Any]) -> dict[str, str]:
    """Job id -> why it is not rehearsed: its `if:`, or a job it needs that is skipped."""
    skipped: dict[str, str] = {}
    for job_id, job in spec["jobs"].items():
        if "if" in job:
            skipped[job_id] = f"if: {job['if']}"
    changed = True
    while changed:
        changed = False
        for job_id, job in spec["jobs"].items():
            needs = job.get("needs", [])
            blocked = [need for need in ([needs] if isinstance(needs, str) else needs) if need in skipped]
            if job_id not in skipped and blocked:
                skipped[job_id] = f"needs {blocked[0]}"
                changed = True
    return skipped


def steps(project: Path, spec: dict[str, Any]) -> list[Step]:
    """(label, shell command, env) for every run step of the rehearsed jobs, composite actions expanded."""
    skipped = skipped_jobs(spec)
    planned: list[Step] = []
    for job_id, job in spec["jobs"].items():
        if job_id not in skipped:
            env = {**spec.get("env", {}), **job.get("env", {})}
            planned += _expand(project, job_id, job["steps"], env)
    return planned


def _expand(project: Path, label: str, job_steps: list[dict[str, Any]], env: dict[str, Any]) -> list[Step]:
    planned: list[Step] = []
    for step in job_steps:
        step_env = {key: UNSET.sub("", str(value)) for key, value in {**env, **step.get("env", {})}.items()}
        uses = step.get("uses")
        if uses is None:
            command = step["run"]
            if condition := HASH_FILES.fullmatch(str(step.get("if", ""))):
                pattern = shlex.quote(condition.group(1))
                command = f"compgen -G {pattern} >/dev/null || {{ echo 'skipped: no {pattern}'; exit 0; }}\n{command}"
            planned.append((f"{label}: {step.get('name') or step['run']}", command, step_env))
        elif uses.startswith(SELF):
            action = project / uses.removeprefix(SELF).split()[0] / "action.yml"
            composite = yaml.safe_load(action.read_text(encoding="utf-8"))["runs"]["steps"]
            planned += _expand(project, f"{label} > {action.parent.name}", composite, step_env)
        elif not uses.startswith(PROVIDED + NO_LOCAL_EFFECT):
            raise SystemExit(f"{label}: no local equivalent for `uses: {uses}`")
    return planned


def main() -> int:
    project = Path(sys.argv[1]).resolve()
    workflow = project / (sys.argv[2] if len(sys.argv) > 2 else ".github/workflows/ci.yml")
    base = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "GH_TOKEN", "GITHUB_TOKEN"}}
    print(f"rehearsing {workflow.relative_to(project)} in {project}")
    spec: dict[str, Any] = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    for job_id, why in skipped_jobs(spec).items():
        print(f"  skip           {job_id}: runs on GitHub only ({why})")
    for label, command, env in steps(project, spec):
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
