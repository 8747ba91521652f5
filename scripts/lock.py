"""Write the generated project's uv.lock: the default bake's lock, its project name a template variable.

A generated project then installs the versions this template's tests ran with, and its first
`make install` resolves nothing. Other answers (Python version, MLflow, DVC) change what the
project requires: uv re-locks on the first `make install`, keeping these versions where they fit.

`make lock` keeps every pin that still satisfies pyproject.toml; `make lock UPGRADE=1` takes the
newest versions. tests/test_lock.py fails while the shipped lock is out of date.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
LOCK = TEMPLATE / "{{cookiecutter.project}}" / "uv.lock"
PROJECT_LINE = 'name = "{project}"\n'
TEMPLATE_LINE = PROJECT_LINE.format(project="{{ cookiecutter.project }}")


def bake(folder: Path) -> Path:
    """The default project in ``folder``, holding the shipped lock rendered for its name."""
    return Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(folder), extra_context={"init_git": False}))


def template_lock(text: str, project: str) -> str:
    """``text`` (a uv.lock) with the project's own package entry named by the template variable."""
    line = PROJECT_LINE.format(project=project)
    if text.count(line) != 1 or text.count(f'"{project}"') != 1:
        sys.exit(f"uv.lock names {project} other than in its own package entry: not written")
    return text.replace(line, TEMPLATE_LINE)


def main() -> None:
    uv = os.environ.get("UV", "uv").split()
    upgrade = ["--upgrade"] if os.environ.get("UPGRADE") else []
    with tempfile.TemporaryDirectory() as folder:
        project = bake(Path(folder))
        env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
        subprocess.run([*uv, "lock", *upgrade], cwd=project, env=env, check=True)
        text = (project / "uv.lock").read_text(encoding="utf-8")
        written = LOCK.with_suffix(".tmp")
        written.write_text(template_lock(text, project.name), encoding="utf-8")
        shutil.move(written, LOCK)
    print(f"wrote {LOCK.relative_to(TEMPLATE)}")


if __name__ == "__main__":
    main()
