"""The generated project's uv.lock (scripts/lock.py): current for the default answers, named for each project."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]


def lock_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock", TEMPLATE / "scripts" / "lock.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_lock_is_current_for_the_default_project(default_baked: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv must be installed (it is a dev dependency of the template)"
    env = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}}
    command = [uv, "lock", "--check"]
    done = subprocess.run(command, cwd=default_baked, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"the shipped uv.lock is out of date: run `make lock`\n{done.stderr}"


def test_the_lock_is_written_with_the_project_name_as_a_variable() -> None:
    script = lock_script()
    text = 'version = 1\n\n[[package]]\nname = "churn"\nversion = "0.1.0"\n'
    assert script.template_lock(text, "churn") == text.replace('"churn"', '"{{ cookiecutter.project }}"')


def test_a_lock_naming_the_project_elsewhere_is_not_written() -> None:
    script = lock_script()
    text = '[[package]]\nname = "churn"\n\n[[package]]\nname = "other"\ndependencies = [{ name = "churn" }]\n'
    with pytest.raises(SystemExit, match=r"uv\.lock names churn other than in its own package entry"):
        script.template_lock(text, "churn")
