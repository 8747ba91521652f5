"""End to end: bake the defaults, install for real, and run the generated project's own make targets.

The default project's docs site and Swagger UI are also opened in headless Chromium (browser.py).
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.main import cookiecutter

from . import browser
from .conftest import TEMPLATE


def user_env() -> dict[str, str]:
    """The environment a user's shell has: none of the template's virtualenv."""
    return {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}}


def uv() -> str:
    path = shutil.which("uv")
    assert path, "uv must be installed (it is a dev dependency of the template)"
    return path


def make(project: Path, *targets: str, offline: bool = False) -> str:
    """Run make in the generated project as a user would: its own .venv, not the template's."""
    env = user_env() | ({"UV_OFFLINE": "1"} if offline else {})
    done = subprocess.run(
        ["make", f"UV={uv()}", *targets], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"make {' '.join(targets)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def rehearse_ci(project: Path, *, short_loadtest: bool = False) -> None:
    """The project's ci.yml, step by step (lint, hooks, test, train, build): every step must pass.

    ``short_loadtest``: `make loadtest` runs for its shortest duration (10 s, not 30 s), in the
    rehearsals that vary the task or the data; the default project's rehearsal runs it in full.
    """
    rehearsal = subprocess.run(
        [sys.executable, str(TEMPLATE / "scripts" / "rehearse_ci.py"), str(project)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
        env={**os.environ, "DURATION": "10"} if short_loadtest else None,
    )
    assert rehearsal.returncode == 0, rehearsal.stdout + rehearsal.stderr
    assert rehearsal.stdout.count("  ok  ") >= 8


def stored_model(project: Path, package: str) -> tuple[str, dict[str, Any]]:
    """The latest version in the project's own model store, and its model.yaml."""
    store = project / ".bentoml" / "models" / package
    version = (store / "latest").read_text().strip()
    return version, yaml.safe_load((store / version / "model.yaml").read_text())


def assert_model_card(project: Path, tag: str, info: dict[str, Any]) -> None:
    """The card of the trained version is in the built site, with its tag, metrics and data hash."""
    card = (project / "docs" / "model-card.md").read_text()
    assert f"| tag | `{tag}` |" in card
    assert f"| data sha256 | `{info['labels']['data_sha256']}` |" in card
    for name, value in info["metadata"]["metrics"].items():
        assert f"| {name} | {value:.4f} |" in card
    page = (project / "site" / "model-card" / "index.html").read_text()
    assert tag in page
    assert (project / "site" / "reference" / "index.html").is_file()  # mkdocstrings rendered the package


@contextmanager
def serving(project: Path, api_key: str, log_dir: Path) -> Iterator[int]:
    """`make serve` requiring ``api_key``, one worker on a free port; yields the port once /readyz answers 200.

    Stopped with SIGTERM to its process group (make, uv run and BentoML's processes), by its ID.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    service = yaml.safe_load((project / "config" / "project.yaml").read_text())["model_name"].replace("_", "-")
    env = user_env() | {
        "API_KEY": api_key,
        "BENTOML_PORT": str(port),
        "BENTOML_CONFIG_OVERRIDES": json.dumps({"services": {service: {"workers": 1}}}),
        "PREDICTION_LOG_DIR": str(log_dir / "predictions"),
    }
    log = log_dir / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["make", f"UV={uv()}", "serve"], cwd=project, env=env, stdout=output, stderr=output, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while not ready(f"http://127.0.0.1:{port}/readyz"):
            assert process.poll() is None, f"make serve exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"not ready in 120 s:\n{log.read_text()}"
            time.sleep(0.5)
        yield port
    finally:
        with suppress(ProcessLookupError):  # the group is gone if make serve failed
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def installed_default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, baked and installed (online: this also warms uv's cache)."""
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(tmp_path_factory.mktemp("default"))))
    make(project, "install")
    return project


@pytest.fixture(scope="module")
def documented_default(installed_default: Path) -> Path:
    """The default project after its CI rehearsal, batch predictions, a drift run and `make docs`."""
    project = installed_default
    rehearse_ci(project)
    make(project, "models", "predict", "export", "edge")
    make(project, "drift", "CURRENT=predictions/breast_cancer.csv")  # batch output: versions and labels
    started = time.perf_counter()
    make(project, "docs")
    print(f"make docs: {time.perf_counter() - started:.1f} s")  # shown with -s; the issue asks for the figure
    return project


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (`make browser`): first, so the browser tests skip before any bake without it."""
    return browser.find_chromium()


@pytest.mark.slow
def test_the_default_project_passes_its_ci_rehearsal_then_predicts_and_drifts(documented_default: Path) -> None:
    project = documented_default
    version, info = stored_model(project, "breast_cancer_classifier")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True)
    data = project / "data" / "breast_cancer.csv"
    assert info["labels"] == {
        "git_revision": head.stdout.strip(),
        "data_sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "params_sha256": info["labels"]["params_sha256"],
    }
    assert len(info["labels"]["params_sha256"]) == 64
    assert info["metadata"]["metrics"]["roc_auc"] >= 0.97
    assert_model_card(project, f"breast_cancer_classifier:{version}", info)
    card = (project / "docs" / "model-card.md").read_text()
    assert "[drift-report.html](drift-report.html)" in card  # the run above, linked and published
    assert (project / "site" / "drift-report.html").is_file()

    with (project / "predictions" / "breast_cancer.csv").open(newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == 569
    assert {row["model_version"] for row in predictions} == {f"breast_cancer_classifier:{version}"}

    drift = json.loads((project / "reports" / "drift" / "latest" / "summary.json").read_text())
    assert drift["model_version"] == f"breast_cancer_classifier:{version}"
    assert (drift["drift_detected"], drift["current"]["rows"], drift["quality"]["failures"]) == (False, 569, [])
    requirements = (project / "dist" / "requirements.txt").read_text()
    assert "bentoml==" in requirements
    assert "evidently" not in requirements  # monitoring stays out of the service image
    assert "onnxruntime==" in requirements  # the image serves the ONNX graph
    assert "skl2onnx" not in requirements  # the converter is for training only
    assert "matplotlib" not in requirements  # the plots are drawn at training time only

    bentos = project / ".bentoml" / "bentos" / "breast-cancer-classifier"
    bento = bentos / (bentos / "latest").read_text().strip()
    assert yaml.safe_load((bento / "bento.yaml").read_text())["services"][0]["models"][0]["tag"].endswith(version)
    archive = project / "dist" / f"breast-cancer-classifier-{bento.name}.bento"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # it holds the model and its training sample
    bundle = project / "dist" / "edge" / f"breast_cancer_classifier-{version}"
    assert (bundle / "model.onnx").is_file()  # the default model converts: an all-numeric HistGradientBoosting
    assert bundle.with_name(f"{bundle.name}.tar.gz").is_file()
    imported = subprocess.run(  # into an empty store, as the monitor workflow does with a release asset
        [str(project / ".venv" / "bin" / "breast_cancer_classifier"), "import", str(archive)],
        cwd=project,
        env=os.environ | {"BENTOML_HOME": str(project / "imported-store")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert f"with breast_cancer_classifier:{version}" in imported.stdout
    dockerfile = bento / "env" / "docker" / "Dockerfile"
    users = [line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("USER ")]
    assert users, "the Dockerfile names no USER"
    assert users[-1] not in ("root", "0")  # the image runs as a non-root user
    lint = subprocess.run(
        ["hadolint", "--failure-threshold", "error", str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.slow
def test_the_default_projects_docs_work_offline_in_a_browser(chromium: str, documented_default: Path) -> None:
    contract = yaml.safe_load((documented_default / "config" / "contract.yaml").read_text())
    features = [feature["name"] for feature in contract["features"]]
    # the last feature: the first ones (mean_radius) are quoted on other pages too
    browser.check_docs_site(chromium, documented_default, feature=features[-1], min_charts=len(features))


@pytest.mark.slow
def test_the_default_projects_swagger_ui_tries_predict_with_the_api_key(
    chromium: str, documented_default: Path, tmp_path: Path
) -> None:
    project = documented_default
    example = subprocess.run(  # a record of the model's reference sample, true to the contract
        [str(project / ".venv" / "bin" / "breast_cancer_classifier"), "example"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    api_key = secrets.token_urlsafe(16)
    with serving(project, api_key, tmp_path) as port:
        browser.check_swagger_ui(chromium, port, api_key, json.loads(example.stdout))


@pytest.mark.slow
def test_a_regression_project_passes_its_ci_rehearsal_then_predicts_drifts_and_documents_numbers(
    tmp_path: Path,
) -> None:
    answers = {
        "project_name": 'Zoë\'s "Dose" Progression',
        "description": 'Predicts "progression" \\ one year on',
        "task": "regression",
        "author_name": "Łukasz O'Connor",
        "license": "Apache-2.0",
    }
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path)))
    package = project.name.replace("-", "_")
    assert package == "zoe_s_dose_progression"
    rehearse_ci(project, short_loadtest=True)
    make(project, "predict", "drift", "docs", "CURRENT=predictions/diabetes.csv")  # drift of labelled batch output
    objectives = yaml.safe_load((project / "config" / "project.yaml").read_text())["objectives"]
    target = yaml.safe_load((project / "config" / "contract.yaml").read_text())["target"]
    assert (target["name"], target["type"]) == ("progression", "numeric")

    version, info = stored_model(project, package)
    tag = f"{package}:{version}"
    metadata = info["metadata"]
    assert (metadata["task"], metadata["estimator"]) == ("regression", "sklearn.ensemble:HistGradientBoostingRegressor")
    assert set(metadata["metrics"]) == {"rmse", "mae", "r2"}
    assert metadata["metrics"]["rmse"] <= objectives["max_rmse"]
    assert metadata["metrics"]["r2"] >= objectives["min_r2"]
    data = project / "data" / "diabetes.csv"
    assert info["labels"]["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()

    with (project / "predictions" / "diabetes.csv").open(newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == 442
    columns = list(predictions[0])
    assert columns[-2:] == ["prediction", "model_version"]
    assert not [name for name in columns if name.startswith("probability_")]
    assert {row["model_version"] for row in predictions} == {tag}
    values = [float(row["prediction"]) for row in predictions]
    assert len(set(values)) > 100  # numbers, not a handful of classes
    errors = [value - float(row["progression"]) for value, row in zip(values, predictions, strict=True)]
    assert (sum(error * error for error in errors) / len(errors)) ** 0.5 <= objectives["max_rmse"]

    drift = json.loads((project / "reports" / "drift" / "latest" / "summary.json").read_text())
    assert (drift["model_version"], drift["task"]) == (tag, "regression")
    assert (drift["drift_detected"], drift["current"]["rows"]) == (False, 442)
    assert set(drift["quality"]["metrics"]) == {"rmse", "mae", "r2"}  # the labelled batch output was scored
    assert drift["quality"]["failures"] == []

    assert_model_card(project, tag, info)
    card = (project / "docs" / "model-card.md").read_text()
    assert "| task | regression |" in card
    assert f"| rmse | {metadata['metrics']['rmse']:.4f} | <= {objectives['max_rmse']:g} | yes |" in card
    assert "rmse" in (project / "site" / "model-card" / "index.html").read_text()
    assert "progression" in (project / "site" / "contract" / "index.html").read_text()
    committed = subprocess.run(  # the regression snippets the template ships are what `make docs` writes
        ["git", "status", "--porcelain", "docs/snippets"], cwd=project, capture_output=True, text=True, check=True
    )
    assert committed.stdout == ""


@pytest.mark.slow
def test_a_project_outside_git_installs_and_trains_offline_from_a_warm_cache(
    installed_default: Path, tmp_path: Path
) -> None:
    answers = {
        "project_name": 'Ana\'s "Churn" Model',
        "license": "Proprietary",
        "deploy_target": "none",
        "init_git": False,
    }
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path)))
    output = make(project, "install", "test", "data", "train", "docs", offline=True)
    assert "the model is labelled git_revision=unknown" in output
    version, info = stored_model(project, "ana_s_churn_model")
    assert info["labels"]["git_revision"] == "unknown"
    assert_model_card(project, f"ana_s_churn_model:{version}", info)
    assert 'Ana\'s "Churn" Model' in html.unescape((project / "site" / "index.html").read_text())


@pytest.mark.slow
def test_a_bentocloud_project_builds_its_docs(installed_default: Path, tmp_path: Path) -> None:
    answers = {"deploy_target": "bentocloud"}
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path)))
    make(project, "install", "data", "train", "docs", "lint")
    version, info = stored_model(project, "breast_cancer_classifier")
    assert_model_card(project, f"breast_cancer_classifier:{version}", info)
    assert "BentoCloud" in (project / "site" / "deployment" / "index.html").read_text()


@pytest.mark.slow
def test_make_release_sets_the_version_commits_and_tags(installed_default: Path) -> None:
    project = installed_default

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True).stdout.strip()

    make(project, "check-version", "TAG=v0.1.0")
    commits = git("rev-list", "--count", "HEAD")
    assert "tagged v0.1.0" in make(project, "release", "VERSION=0.1.0")  # the first release: the version as it is
    assert git("rev-list", "--count", "HEAD") == commits  # nothing to commit, only the tag
    output = make(project, "release", "VERSION=1.2.3")
    assert "tagged v1.2.3: git push origin HEAD v1.2.3" in output
    assert git("tag", "--list", "v*").split() == ["v0.1.0", "v1.2.3"]
    assert git("log", "-1", "--format=%s") == "Release v1.2.3"
    assert 'version = "1.2.3"' in (project / "pyproject.toml").read_text()
    mismatch = subprocess.run(
        ["make", "check-version", "TAG=v1.2.4"], cwd=project, capture_output=True, text=True, check=False
    )
    assert mismatch.returncode != 0
    assert "tag v1.2.4 does not match version 1.2.3 in pyproject.toml" in mismatch.stderr
