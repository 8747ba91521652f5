"""Every option combination bakes into exactly the expected, fully rendered, parseable project."""

from __future__ import annotations

import email
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import TEMPLATE, UNICODE_ANSWERS

DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())
MODULES = [
    "__init__", "alerts", "api_types", "batching", "cli", "cli_operations", "compare", "contract",
    "contract_inference", "data", "docs_pages", "docs_plots", "drift", "drift_data", "drift_report", "edge",
    "edge_predictor", "errors", "estimator", "evaluation", "http_guards", "labels", "loadtest", "loadtest_user",
    "log_shipping", "model", "observability", "onnx_graph", "plots", "predict", "prediction_log", "progress",
    "registry", "retrain", "server_limits", "service", "settings", "spark_batch", "starter_data", "train",
    "upstream_openapi", "upstream_patches",
]  # fmt: skip
# Tests mirror the modules; the service has three tiers (test_service, test_serve, test_fuzz), which
# also cover errors and observability; test_drift covers the report it builds with drift_report;
# starter_data (one loader, a different one per task) runs in test_cli's `data` and feeds the fixtures;
# test_edge runs the bundle's edge_predictor; test_upstream_patches holds upstream_openapi's workarounds;
# cli_operations' commands are run by the tests of what they call (compare, loadtest, retrain), and
# test_loadtest drives loadtest_user (the locustfile); test_objectives covers settings' objectives.
TESTS = [
    "__init__", "conftest", "support", "test_serve", "test_fuzz", "test_objectives",
    *(
        f"test_{m}"
        for m in MODULES
        if m
        not in {
            "__init__", "errors", "drift_report", "starter_data", "edge_predictor", "upstream_openapi",
            "cli_operations", "loadtest_user",
        }
    ),
]  # fmt: skip
# Files that differ by task: the template holds `<stem>.<task><suffix>` of each, the hook keeps one.
VARIANTS = [
    "src/{{cookiecutter.package}}/starter_data.py", "config/contract.yaml",
    "docs/snippets/contract-table.md", "docs/snippets/objectives-table.md", "docs/snippets/intended-use.md",
]  # fmt: skip
TARGETS = {"classification": ("malignant", "categorical"), "regression": ("progression", "numeric")}
DATA_PATHS = {"classification": "data/breast_cancer.csv", "regression": "data/diabetes.csv"}
TASK_OBJECTIVES = {
    "classification": {"min_accuracy", "min_roc_auc", "min_f1", "min_precision", "min_recall"},
    "regression": {"max_rmse", "max_mae", "min_r2"},
}
# Hand-written pages; docs/model-card.md is written by `make docs` from the model store (git-ignored).
DOCS_PAGES = [
    "index", "getting-started", "own-data", "contract", "training", "serving", "batch", "edge", "deployment",
    "spark", "monitoring", "alerts", "loadtest", "retraining",
    "runbook", "releases", "security", "reference", "changelog",
]  # fmt: skip
UNRENDERED = re.compile(r"\{\{|\}\}|\{%|%\}|cookiecutter\.")
# .github/ is copied without rendering: only GitHub's `${{ }}` expressions and docker/metadata-action's
# `{{version}}`-style patterns may appear there.
UNRENDERED_IN_GITHUB = re.compile(r"(?<!\$)\{\{(?!(version|major|minor|patch)\}\})|\{%|%\}|cookiecutter\.")


def expected_files(config: dict[str, Any], package: str) -> set[str]:
    files = {
        ".gitignore", ".python-version", "Makefile", "README.md", "pyproject.toml", "uv.lock",
        "config/contract.yaml", "config/project.yaml", "data/README.md",
        f"src/{package}/py.typed",
        *(f"src/{package}/{module}.py" for module in MODULES),
        *(f"tests/{module}.py" for module in TESTS),
        "benchmarks/__init__.py", "benchmarks/serve.py", "benchmarks/fastapi_baseline.py", "benchmarks/drift.py",
        "benchmarks/batch.py",
        ".pre-commit-config.yaml", ".github/dependabot.yml",
        ".github/actions/setup/action.yml", ".github/actions/image/action.yml",
        ".github/scripts/with-store-credentials.sh",
        ".github/workflows/ci.yml", ".github/workflows/release.yml", ".github/workflows/monitor.yml",
        ".github/workflows/docs.yml", ".github/workflows/retrain.yml", "mkdocs.yml", "CHANGELOG.md",
        "tests/schemas/servicemonitor.v1.json", "tests/schemas/prometheusrule.v1.json",
        *(f"docs/{page}.md" for page in DOCS_PAGES),
        *(f"docs/snippets/{name}.md" for name in ("contract-table", "objectives-table", "intended-use")),
    }  # fmt: skip
    if config["license"] != "Proprietary":
        files.add("LICENSE")
    if config["deploy_target"] != "none":
        files.add(".github/workflows/deploy.yml")
    if config["deploy_target"] == "kubernetes":
        manifests = ("deployment", "service", "serviceaccount", "hpa", "pdb")
        files |= {f"deploy/kubernetes/{name}.yaml" for name in manifests}
        files |= {f"deploy/kubernetes/monitoring/{name}.yaml" for name in ("servicemonitor", "prometheusrule")}
        files.add("deploy/kubernetes/deploy.sh")
    if config["experiment_tracking"] == "mlflow":
        files |= {f"src/{package}/tracking.py", "tests/test_tracking.py", "docs/tracking.md"}
    if config["data_versioning"] == "dvc":
        files |= {"dvc.yaml", ".dvc/config", ".dvc/.gitignore", ".dvcignore", "docs/data-versioning.md"}
        files.add("tests/test_data_versioning.py")
    return files


def project_files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_the_file_tree_is_exact(baked: tuple[Path, dict[str, Any]], config: dict[str, Any]) -> None:
    root, context = baked
    assert project_files(root) == expected_files(config, context["package"])
    assert (root / ".git").is_dir() is config["init_git"]


def test_the_lock_s_own_package_is_the_project(baked: tuple[Path, dict[str, Any]]) -> None:
    """The shipped uv.lock (the default answers' versions) names the project it was baked for."""
    root, context = baked
    own_entry = f'name = "{context["project"]}"\nversion = '
    assert (root / "uv.lock").read_text().count(own_entry) == 1


def test_an_option_left_out_leaves_no_trace(baked: tuple[Path, dict[str, Any]], config: dict[str, Any]) -> None:
    """Without MLflow nothing names it (no import, no group, no store); without DVC nothing runs it.

    The workflows (copied unrendered) check at run time whether the project has dvc.yaml or mlflow.db.
    """
    root, _ = baked
    absent = {"mlflow": config["experiment_tracking"] == "none", "dvc": config["data_versioning"] == "none"}
    named = {
        (str(path.relative_to(root)), word)
        for path in root.rglob("*")
        if path.is_file() and not {".git", ".github"} & set(path.relative_to(root).parts)
        for word in re.findall(r"mlflow|dvc", path.read_text(encoding="utf-8").lower())
        if absent[word]
    }
    assert named == set()


def test_nothing_is_left_unrendered(baked: tuple[Path, dict[str, Any]]) -> None:
    root, _ = baked
    leftovers = {}
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            pattern = UNRENDERED_IN_GITHUB if ".github" in path.parts else UNRENDERED
            if found := pattern.findall(path.read_text(encoding="utf-8")):
                leftovers[path] = found
    assert leftovers == {}


def test_pyproject_is_valid_toml_holding_the_exact_answers(baked: tuple[Path, dict[str, Any]]) -> None:
    root, context = baked
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == context["project"]
    assert project["description"] == context["description"]
    assert project["authors"] == [{"name": context["author_name"], "email": context["author_email"]}]
    assert project["requires-python"] == f">={context['python_version']}"
    assert project["scripts"] == {context["package"]: f"{context['package']}.cli:main"}
    if context["license"] == "Proprietary":
        assert project["license"] == "LicenseRef-Proprietary"
        assert "Private :: Do Not Upload" in project["classifiers"]
    else:
        assert project["license"] == context["license"]


def test_every_yaml_file_parses(baked: tuple[Path, dict[str, Any]]) -> None:
    root, context = baked
    documents = {
        path.name: yaml.safe_load(path.read_text()) for path in root.rglob("*.y*ml") if ".git" not in path.parts
    }
    project, target = documents["project.yaml"], documents["contract.yaml"]["target"]
    task = context["task"]
    assert project["model_name"] == context["package"]
    assert project["data"] == {"path": DATA_PATHS[task], "source": f"{context['package']}.starter_data:load"}
    assert (target["name"], target["type"]) == TARGETS[task]
    operations = {  # drift, load and retraining objectives: not gated at training
        "max_drift_share", "drift_thresholds", "max_p95_latency_ms", "expected_rps", "max_error_rate",
        "challenger_margin",
    }  # fmt: skip
    metric_objectives = {key for key in project["objectives"] if key not in operations}
    assert operations - {"drift_thresholds"} <= set(project["objectives"]), "the shipped config shows every knob"
    assert metric_objectives, "the quality gate has no objective"
    assert metric_objectives <= TASK_OBJECTIVES[task]
    suffix = "Regressor" if task == "regression" else "Classifier"
    assert project["training"]["estimator"] == f"sklearn.ensemble:HistGradientBoosting{suffix}"
    assert project["training"]["params"]["early_stopping"] is False


def test_the_task_keeps_its_own_variant_of_each_file(baked: tuple[Path, dict[str, Any]]) -> None:
    """Each variant path holds the chosen task's file as the template has it (they hold no Jinja)."""
    root, context = baked
    for relative in VARIANTS:
        path = Path(relative)
        source = TEMPLATE / "{{cookiecutter.project}}" / path.with_name(f"{path.stem}.{context['task']}{path.suffix}")
        kept = root / relative.replace("{{cookiecutter.package}}", context["package"])
        assert kept.read_text(encoding="utf-8") == source.read_text(encoding="utf-8"), relative
    leftovers = [p for p in root.rglob("*") if any(f".{task}." in p.name for task in TARGETS)]
    assert leftovers == []


def test_the_generated_tests_name_nothing_of_the_starter_data(baked: tuple[Path, dict[str, Any]]) -> None:
    """The suite follows the project's contract, so it still passes once a user's own contract replaces it."""
    root, _ = baked
    contract = yaml.safe_load((root / "config" / "contract.yaml").read_text(encoding="utf-8"))
    project = yaml.safe_load((root / "config" / "project.yaml").read_text(encoding="utf-8"))
    starter = {feature["name"] for feature in contract["features"]} | {contract["target"]["name"]}
    starter |= {Path(project["data"]["path"]).stem, "load_breast_cancer", "load_diabetes"}
    named = {
        (str(path.relative_to(root)), word)
        for path in (root / "tests").glob("*.py")
        for word in set(re.findall(r"\w+", path.read_text(encoding="utf-8"))) & starter
    }
    assert named == set()


def test_the_license_matches_the_choice(baked: tuple[Path, dict[str, Any]]) -> None:
    root, context = baked
    first_line = {"MIT": "MIT License", "Apache-2.0": "Apache License"}
    if context["license"] == "Proprietary":
        assert not (root / "LICENSE").exists()
    else:
        text = (root / "LICENSE").read_text(encoding="utf-8")
        assert text.strip().splitlines()[0].strip() == first_line[context["license"]]
        assert context["author_name"] in text


def test_no_default_or_template_author_string_leaks(baked: tuple[Path, dict[str, Any]], config: dict[str, Any]) -> None:
    root, _ = baked
    given = {key for key in ("author_name", "author_email", "github_owner") if key in config}
    leaked = {
        (str(path.relative_to(root)), DEFAULTS[key])
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.parts
        for key in given
        if DEFAULTS[key] in path.read_text(encoding="utf-8")
    }
    assert leaked == set()
    text = "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
    assert "Template Tests" not in text  # the git identity of whoever bakes never lands in files


def test_the_generated_code_is_lint_clean_for_this_name(baked: tuple[Path, dict[str, Any]]) -> None:
    """Names of any length must keep the code formatted: ruff reads the project's own config."""
    root, _ = baked
    for args in (["check", "src", "tests"], ["format", "--check", "src", "tests"]):
        done = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=root, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_first_commit_holds_every_file(baked: tuple[Path, dict[str, Any]], config: dict[str, Any]) -> None:
    if not config["init_git"]:
        pytest.skip("init_git is false")
    root, context = baked

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout

    assert git("branch", "--show-current").strip() == "main"
    assert len(git("log", "--oneline").splitlines()) == 1
    assert git("status", "--porcelain") == ""
    assert set(git("ls-files").splitlines()) == expected_files(config, context["package"])


def test_unicode_answers_render_valid_toml_and_yaml_holding_them_exactly(unicode_baked: Path) -> None:
    """Emoji and other non-ASCII text stay as written: no surrogate escapes that TOML rejects or YAML garbles."""
    project = tomllib.loads((unicode_baked / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["description"] == UNICODE_ANSWERS["description"]
    assert project["authors"] == [{"name": UNICODE_ANSWERS["author_name"], "email": UNICODE_ANSWERS["author_email"]}]
    site = yaml.safe_load((unicode_baked / "mkdocs.yml").read_text(encoding="utf-8"))
    assert (site["site_name"], site["site_description"]) == (
        UNICODE_ANSWERS["project_name"], UNICODE_ANSWERS["description"]
    )  # fmt: skip
    assert "🚀" in (unicode_baked / "pyproject.toml").read_text(encoding="utf-8")  # written as is, not escaped


@pytest.mark.slow
def test_unicode_answers_build_the_docs_site_and_the_package(unicode_installed: Path) -> None:
    """`make docs` (mkdocs build --strict) and `uv build` accept them; the wheel's metadata holds them exactly."""
    env = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}}
    uv = shutil.which("uv")
    assert uv
    for command in (["make", f"UV={uv}", "data", "train", "docs"], [uv, "build", "--wheel", "--offline"]):
        done = subprocess.run(command, cwd=unicode_installed, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
    page = html.unescape((unicode_installed / "site" / "index.html").read_text(encoding="utf-8"))
    assert UNICODE_ANSWERS["project_name"] in page
    (wheel,) = (unicode_installed / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        name = f"{wheel.name.split('-')[0]}-0.1.0.dist-info/METADATA"
        metadata = email.message_from_string(archive.read(name).decode("utf-8"))
    assert metadata["Summary"] == UNICODE_ANSWERS["description"]
    assert UNICODE_ANSWERS["author_name"] in metadata["Author-email"]
    assert UNICODE_ANSWERS["author_email"] in metadata["Author-email"]
