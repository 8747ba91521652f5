"""Finish the generated project: drop what the options exclude, make the first commit, print next steps.

Never fails generation for git's sake: without git or a git identity it says so and carries on.
Runs offline, with the standard library only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

CONTEXT = json.loads(
    r"""{{ {
        "project": cookiecutter.project,
        "package": cookiecutter.package,
        "license": cookiecutter.license,
        "deploy_target": cookiecutter.deploy_target,
        "init_git": cookiecutter.init_git,
    } | tojson }}"""
)

# The one table of optional paths: path -> keep it? (files and folders alike)
OPTIONAL_PATHS = {
    "LICENSE": CONTEXT["license"] != "Proprietary",
    "deploy": CONTEXT["deploy_target"] == "kubernetes",  # manifests and deploy.sh
}


# One deploy workflow per deploy_target (`none` has none): the chosen one becomes deploy.yml.
DEPLOY_WORKFLOWS = {target: f".github/workflows/deploy-{target}.yml" for target in ("kubernetes", "bentocloud")}


def remove_excluded(root: Path) -> None:
    """Delete every optional path whose condition is false; name the chosen deploy workflow deploy.yml."""
    for target, relative in DEPLOY_WORKFLOWS.items():
        if target == CONTEXT["deploy_target"]:
            (root / relative).rename(root / ".github" / "workflows" / "deploy.yml")
        else:
            (root / relative).unlink()
    for relative, keep in OPTIONAL_PATHS.items():
        path = root / relative
        if keep or not path.exists():
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def init_git(root: Path) -> str:
    """``git init -b main`` and a first commit; returns what happened, in one line."""
    if shutil.which("git") is None:
        return "git is not installed: skipped `git init` (run it yourself later)"

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)

    initialised = git("init", "-b", "main")
    if initialised.returncode != 0:
        return f"`git init` failed, skipped the first commit: {initialised.stderr.strip()}"
    git("add", "--all")
    committed = git("commit", "--quiet", "-m", "Initial commit from cookiecutter-mlops")
    if committed.returncode != 0:
        return (
            "created a git repository on branch main, but could not commit "
            "(set `git config --global user.name` and `user.email`, then `git commit -m 'Initial commit'`)"
        )
    return "created a git repository on branch main with a first commit"


def main() -> None:
    """Run the steps and print what to do next."""
    root = Path.cwd()
    remove_excluded(root)
    git_line = init_git(root) if CONTEXT["init_git"] else "init_git is false: no git repository created"
    print(
        f"""
Created {root}
  {git_line}

Next steps:
  cd {CONTEXT["project"]}
  make install     # uv sync: .venv and uv.lock
  make data train  # default dataset, training, quality gate, model registered
  make models      # registered versions with metrics, data hash and git revision
  make predict     # batch predictions with the latest model
  make help        # every target
"""
    )


if __name__ == "__main__":
    main()
