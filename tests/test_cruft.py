"""A generated project follows the template with cruft, offline, exactly as the README says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import TEMPLATE

CRUFT = str(Path(sys.executable).with_name("cruft"))
NEW_LINE = "A line the template added after this project was created."


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=False, timeout=300)


def git(*args: str, cwd: Path) -> str:
    done = run("git", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def committed_copy(destination: Path) -> Path:
    """The template's files as they are now (tracked or new, never ignored), committed to a fresh repo."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=TEMPLATE).split("\0")
    for relative in filter(None, listed):
        source = TEMPLATE / relative
        if source.is_file():
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / relative)
    git("init", "--quiet", "-b", "main", cwd=destination)
    git("add", "--all", cwd=destination)
    git("commit", "--quiet", "-m", "template", cwd=destination)
    return destination


def test_cruft_reports_and_applies_a_template_change(tmp_path: Path) -> None:
    template = committed_copy(tmp_path / "template")
    created = run(CRUFT, "create", str(template), "--no-input", "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / "out" / "breast-cancer-classifier"
    git("add", ".cruft.json", cwd=project)  # the README's next step: track the template link
    git("commit", "--quiet", "-m", "Track the template with cruft", cwd=project)
    assert run(CRUFT, "check", cwd=project).returncode == 0

    readme = template / "{{cookiecutter.project}}" / "README.md"
    readme.write_text(readme.read_text() + f"\n{NEW_LINE}\n")
    git("commit", "--quiet", "-am", "Improve the generated README", cwd=template)
    stale = run(CRUFT, "check", cwd=project)
    assert stale.returncode == 1
    assert "out of date" in stale.stdout + stale.stderr

    updated = run(CRUFT, "update", "--skip-apply-ask", cwd=project)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert NEW_LINE in (project / "README.md").read_text()
    assert json.loads((project / ".cruft.json").read_text())["commit"] == git("rev-parse", "HEAD", cwd=template)
    changed = run("git", "status", "--porcelain", cwd=project).stdout.splitlines()
    assert sorted(line[3:] for line in changed) == [".cruft.json", "README.md"]  # nothing else touched
