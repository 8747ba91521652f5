from __future__ import annotations

import functools
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from {{ cookiecutter.package }}.cli import main

from .support import MIXED, ROOT, mixed_frame


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's config in a fresh folder: the CLI sees a brand-new project."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path


def run(project: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(project / "config" / "project.yaml"), *args])


COMMANDS = [
    "data",
    "validate",
    "train",
    "evaluate",
    "predict",
    "models",
    "drift",
    "docs",
    "dockerfile",
    "import",
    "export",
]


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_every_command_has_help_with_the_exit_codes(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Exit codes: 0 ok, 1 a check failed (quality gate, drift), 2 bad input." in result.output


def test_the_whole_flow_exits_zero(project: Path) -> None:
    config = project / "config" / "project.yaml"  # a model name no other test registers in the shared store
    config.write_text(re.sub(r"^model_name: .*$", "model_name: whole_flow", config.read_text(), flags=re.MULTILINE))
    assert run(project, "models").output.startswith("no versions of whole_flow")
    for command in (["data"], ["validate"], ["train"], ["models"], ["predict"], ["evaluate"]):
        result = run(project, *command)
        assert result.exit_code == 0, result.output
    assert (project / "data" / "breast_cancer.csv").is_file()
    assert (project / "reports" / "metrics.json").is_file()
    assert (project / "predictions" / "breast_cancer.csv").is_file()


def test_a_failed_gate_exits_one_and_names_the_metric(project: Path) -> None:
    config = project / "config" / "project.yaml"
    config.write_text(config.read_text().replace("min_accuracy: 0.92", "min_accuracy: 1.0"))
    assert run(project, "data").exit_code == 0
    result = run(project, "train")
    assert result.exit_code == 1
    assert "error: quality gate failed: the model was not registered" in result.output
    assert "accuracy = " in result.output
    assert "is below the floor objectives.min_accuracy = 1.0" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train"], "training data not found; run `make data`"),
        (["evaluate", "--model", "nosuchversion"], "is not in the model store"),
        (["predict", "--input", "missing.csv"], "missing.csv: file not found"),
        (["validate", "nothing.txt"], "unsupported file type '.txt'"),
        (["dockerfile", "--bento", "nosuch:v1"], "bento 'nosuch:v1' is not in the store: run `make build` first"),
        (["import", "config/project.yaml"], "config/project.yaml: cannot be imported as a bento"),
    ],
)
def test_bad_input_exits_two_with_one_clear_error(project: Path, args: list[str], message: str) -> None:
    result = run(project, *args)
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert message in result.output


def test_a_bad_setting_exits_two_naming_the_key(project: Path) -> None:
    config = project / "config" / "project.yaml"
    config.write_text(config.read_text().replace("test_size: 0.2", "test_size: 2"))
    result = run(project, "train")
    assert result.exit_code == 2
    assert "training.test_size: Input should be less than 1 (got 2)" in result.output


def test_drift_exits_zero_one_or_two(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the two-feature mixed contract: a 30-feature report would only cost time here."""
    monkeypatch.delenv("PREDICTION_LOG_DIR")  # the default: serving.prediction_log_dir in the project
    (project / "config" / "contract.yaml").write_text(yaml.safe_dump(MIXED.model_dump(mode="json")))
    config = project / "config" / "project.yaml"
    floors = {"min_roc_auc: 0.97": "min_roc_auc: 0.8", "min_accuracy: 0.92": "", "min_f1: 0.88": ""}
    config.write_text(functools.reduce(lambda text, pair: text.replace(*pair), floors.items(), config.read_text()))
    (project / "data").mkdir()
    mixed_frame(600).to_csv(project / "data" / "breast_cancer.csv", index=False)  # data.path
    assert run(project, "train").exit_code == 0
    result = run(project, "drift")
    assert result.exit_code == 2
    assert "logs/predictions: not found. Serve the model" in result.output
    same = run(project, "drift", "--current", str(project / "data" / "breast_cancer.csv"))  # the training rows
    assert same.exit_code == 0, same.output
    assert "no drift beyond the thresholds" in same.output
    shifted_rows = mixed_frame(600).assign(tenure_months=lambda frame: frame["tenure_months"] + 100)
    shifted_rows.to_csv(project / "shifted.csv", index=False)
    shifted = run(project, "drift", "--current", str(project / "shifted.csv"))
    assert shifted.exit_code == 1
    assert (
        "error: 1 of 2 features drifted (share 0.50 > objectives.max_drift_share 0.3): tenure_months" in shifted.output
    )
    assert (project / "reports" / "drift" / "latest" / "report.html").is_file()
