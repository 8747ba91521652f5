"""The optional integrations, for real and offline: MLflow runs of every training, DVC's pipeline and rollback.

One project is baked with experiment_tracking=mlflow and data_versioning=dvc, installed once, and
shared by the tests below, which run in file order on its one git history.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter

from .conftest import TEMPLATE

PACKAGE = "breast_cancer_classifier"
DATA = Path("data/train.csv")  # the table of the DVC tests: a file source, tracked by DVC instead of git


def environment() -> dict[str, str]:
    """The project's own .venv (not the template's), a known git identity, no CI, no analytics."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "CI", "MLFLOW_TRACKING_URI", "DVC_REMOTE_URL"}
    }
    uv = shutil.which("uv")
    assert uv, "uv must be installed (it is a dev dependency of the template)"
    env |= {"UV": uv, "DVC_NO_ANALYTICS": "1", "BENTOML_DO_NOT_TRACK": "true"}
    for role in ("AUTHOR", "COMMITTER"):
        env |= {f"GIT_{role}_NAME": "Template Tests", f"GIT_{role}_EMAIL": "template-tests@example.com"}
    return env


def run(project: Path, *command: str, status: int = 0) -> str:
    """A command in the project; fails the test, with its output, unless it exits with ``status``."""
    done = subprocess.run(command, cwd=project, env=environment(), capture_output=True, text=True, timeout=900)
    assert done.returncode == status, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def dvc(project: Path, *args: str) -> str:
    return run(project, str(project / ".venv" / "bin" / "dvc"), *args)


def latest_model(project: Path) -> dict[str, object]:
    """The model.yaml of the latest version in the project's store, with its tag."""
    store = project / ".bentoml" / "models" / PACKAGE
    version = (store / "latest").read_text().strip()
    return yaml.safe_load((store / version / "model.yaml").read_text()) | {"tag": f"{PACKAGE}:{version}"}


def runs(project: Path) -> list[dict[str, object]]:
    """Every MLflow run of the project's own store, oldest first, read with MlflowClient."""
    script = (
        "import json; from mlflow.tracking import MlflowClient; c = MlflowClient('sqlite:///mlflow.db'); "
        f"e = c.get_experiment_by_name('{PACKAGE}'); "
        "print(json.dumps([dict(id=r.info.run_id, tags=r.data.tags, metrics=r.data.metrics) "
        "for r in c.search_runs([e.experiment_id], order_by=['attributes.start_time ASC'])]))"
    )
    output = run(project, str(project / ".venv" / "bin" / "python"), "-c", script)
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def set_config(project: Path, section: str, values: dict[str, object]) -> None:
    path = project / "config" / "project.yaml"
    config = yaml.safe_load(path.read_text())
    config[section] |= values
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project with both options, installed, in a git repository with a first commit."""
    output = tmp_path_factory.mktemp("options")
    answers = {"experiment_tracking": "mlflow", "data_versioning": "dvc", "init_git": False}
    root = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output)))
    run(root, "make", "install")
    run(root, "git", "init", "--quiet", "-b", "main")
    run(root, "git", "add", "--all")
    run(root, "git", "commit", "--quiet", "-m", "Initial commit")
    return root


@pytest.mark.slow
def test_the_project_with_both_options_is_lint_clean_and_its_tests_pass(project: Path) -> None:
    run(project, "make", "lint", "test")


@pytest.mark.slow
def test_every_training_is_an_mlflow_run_and_the_registered_one_carries_its_bentoml_tag(project: Path) -> None:
    run(project, "make", "data", "train")
    registered = latest_model(project)
    config = (project / "config" / "project.yaml").read_text()
    set_config(project, "objectives", {"min_accuracy": 0.9999})  # no model of this data reaches it
    try:
        failed = run(project, "make", "train", status=2)
    finally:
        (project / "config" / "project.yaml").write_text(config)
    assert "quality gate failed" in failed
    assert latest_model(project)["tag"] == registered["tag"]  # the rejected model was not registered

    passed_run, failed_run = runs(project)
    assert registered["metadata"]["mlflow_run_id"] == passed_run["id"]  # type: ignore[index]
    assert passed_run["tags"]["bentoml.tag"] == registered["tag"]  # type: ignore[index]
    assert (passed_run["tags"]["gate"], failed_run["tags"]["gate"]) == ("passed", "failed")  # type: ignore[index]
    assert failed_run["tags"]["objective.min_accuracy"] == "missed"  # type: ignore[index]
    assert "bentoml.tag" not in failed_run["tags"]  # type: ignore[operator]
    assert passed_run["tags"]["data_sha256"] == registered["labels"]["data_sha256"]  # type: ignore[index]
    ignored = run(project, "git", "status", "--porcelain", "--ignored", "mlflow.db", "mlruns")
    assert ignored.split() == ["!!", "mlflow.db", "!!", "mlruns/"]

    run(project, "make", "build")  # MLflow and DVC stay out of the service image
    requirements = (project / "dist" / "requirements.txt").read_text().lower().splitlines()
    assert [line for line in requirements if line.startswith(("mlflow", "dvc", "sqlalchemy"))] == []
    assert any(line.startswith("bentoml==") for line in requirements)


@pytest.mark.slow
def test_dvc_repro_trains_retrains_on_changed_data_and_a_rollback_restores_the_old_data(project: Path) -> None:
    # Own data, tracked by DVC instead of git: a copy of the starter table as the file source.
    table = project / DATA
    shutil.copyfile(project / "data" / "breast_cancer.csv", table)
    set_config(project, "data", {"source": str(DATA), "path": str(DATA)})
    dvc(project, "repro")
    assert "Data and pipelines are up to date." in dvc(project, "status")
    assert "CI has it only from the DVC remote" in run(project, "make", "data")  # not "CI will not have it"
    first = latest_model(project)
    assert first["labels"]["data_sha256"] == sha256(table)  # type: ignore[index]
    assert run(project, "git", "check-ignore", str(DATA)).strip() == str(DATA)  # DVC ignores it, not git
    run(project, "git", "add", "--all")
    run(project, "git", "commit", "--quiet", "-m", "Train on data/train.csv")
    dvc(project, "push")

    # Changed data: DVC sees it and retrains.
    lines = table.read_text().splitlines(keepends=True)
    table.write_text("".join(lines[:-60]))
    assert "modified:" in dvc(project, "status")
    assert "Running stage 'train'" in dvc(project, "repro")
    second = latest_model(project)
    assert second["tag"] != first["tag"]
    assert second["labels"]["data_sha256"] == sha256(table) != first["labels"]["data_sha256"]  # type: ignore[index]
    run(project, "git", "commit", "--quiet", "--all", "-m", "Retrain on fewer rows")

    # Rollback: the first commit's dvc.lock, its data from DVC's cache, and a retraining on it.
    run(project, "git", "checkout", "HEAD~1", "--", "dvc.lock")
    dvc(project, "checkout")
    assert sha256(table) == first["labels"]["data_sha256"]  # type: ignore[index]
    run(project, "make", "train")
    assert latest_model(project)["labels"]["data_sha256"] == first["labels"]["data_sha256"]  # type: ignore[index]

    # The local remote holds it too: gone from the work tree and the cache, `make data-pull` brings it back.
    table.unlink()
    shutil.rmtree(project / ".dvc" / "cache")
    run(project, "make", "data-pull")
    assert sha256(table) == first["labels"]["data_sha256"]  # type: ignore[index]
