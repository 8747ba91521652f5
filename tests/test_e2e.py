"""End to end: bake the defaults, install for real, and run the generated project's own make targets."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter

from .conftest import TEMPLATE


def make(project: Path, *targets: str) -> str:
    """Run make in the generated project as a user would: its own .venv, not the template's."""
    env = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}}
    uv = shutil.which("uv")
    assert uv, "uv must be installed (it is a dev dependency of the template)"
    done = subprocess.run(
        ["make", f"UV={uv}", *targets], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"make {' '.join(targets)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_the_default_project_installs_lints_tests_trains_and_predicts(tmp_path: Path) -> None:
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(tmp_path)))
    make(project, "install", "data", "lint", "test", "train", "models", "predict")

    store = project / ".bentoml" / "models" / "breast_cancer_classifier"
    version = (store / "latest").read_text().strip()
    info = yaml.safe_load((store / version / "model.yaml").read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True)
    data = project / "data" / "breast_cancer.csv"
    assert info["labels"] == {
        "git_revision": head.stdout.strip(),
        "data_sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "params_sha256": info["labels"]["params_sha256"],
    }
    assert len(info["labels"]["params_sha256"]) == 64
    assert info["metadata"]["metrics"]["roc_auc"] >= 0.97

    with (project / "predictions" / "breast_cancer.csv").open(newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == 569
    assert {row["model_version"] for row in predictions} == {f"breast_cancer_classifier:{version}"}
