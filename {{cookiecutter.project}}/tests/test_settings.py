"""config/project.yaml: the shipped file loads as it says, and every bad or misplaced key is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from {{ cookiecutter.package }}.errors import ConfigError
from {{ cookiecutter.package }}.estimator import make_estimator
from {{ cookiecutter.package }}.settings import TASK_METRICS, Limit, Objectives, load_settings

from .support import PROJECT_CONTRACT, ROOT

SHIPPED = ROOT / "config" / "project.yaml"


def shipped() -> dict[str, Any]:
    raw = yaml.safe_load(SHIPPED.read_text())
    assert isinstance(raw, dict)
    return raw


def write_config(tmp_path: Path, settings: dict[str, Any] | str) -> Path:
    path = tmp_path / "config" / "project.yaml"
    path.parent.mkdir()
    path.write_text(settings if isinstance(settings, str) else yaml.safe_dump(settings))
    return path


def test_the_shipped_settings_load_as_the_file_says() -> None:
    raw = shipped()
    settings = load_settings(SHIPPED)
    assert settings.root == ROOT
    assert settings.model_name == raw["model_name"]
    assert settings.data_path == ROOT / raw["data"]["path"]
    assert settings.data.source == raw["data"]["source"]
    assert settings.resolve(settings.contract) == ROOT / raw["contract"]
    metric_keys = {
        f"{bound}_{metric}" for metrics in TASK_METRICS.values() for metric in metrics for bound in ("min", "max")
    }
    metric_objectives = {k: v for k, v in raw["objectives"].items() if k in metric_keys}  # not drift or service ones
    assert settings.objectives.declared() == metric_objectives
    assert settings.training.model_dump() == settings.training.model_validate(raw["training"]).model_dump()
    assert settings.metrics_path == ROOT / raw["reports_dir"] / "metrics.json"


def test_the_shipped_objectives_and_estimator_fit_the_shipped_contract() -> None:
    settings = load_settings(SHIPPED)
    limits = settings.objectives.limits_for(PROJECT_CONTRACT.task)
    assert limits, "the shipped project gates on at least one metric"
    assert {limit.metric for limit in limits} <= set(TASK_METRICS[PROJECT_CONTRACT.task])
    make_estimator(settings.training, PROJECT_CONTRACT.task)


def test_a_bad_value_names_the_key_and_the_value(tmp_path: Path) -> None:
    raw = shipped()
    raw["training"]["test_size"] = 1.5
    with pytest.raises(ConfigError, match=r"training\.test_size: Input should be less than 1 \(got 1\.5\)"):
        load_settings(write_config(tmp_path, raw))


@pytest.mark.parametrize(
    ("objective", "value", "message"),
    [
        ("min_roc_auc", 1.5, "less than or equal to 1"),
        ("max_rmse", -1, "greater than or equal to 0"),
        ("min_r2", 2, "less than or equal to 1"),
    ],
)
def test_an_objective_out_of_its_range_is_named(tmp_path: Path, objective: str, value: float, message: str) -> None:
    raw = shipped()
    raw["objectives"][objective] = value
    with pytest.raises(ConfigError, match=rf"objectives\.{objective}: Input should be {message} \(got {value}\)"):
        load_settings(write_config(tmp_path, raw))


def test_an_unknown_key_is_refused_by_name(tmp_path: Path) -> None:
    raw = shipped()
    raw["objectives"]["min_f2"] = 0.5
    with pytest.raises(ConfigError, match=r"objectives\.min_f2: Extra inputs are not permitted"):
        load_settings(write_config(tmp_path, raw))


def test_the_root_is_not_a_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="root: not a setting"):
        load_settings(write_config(tmp_path, shipped() | {"root": "/elsewhere"}))


@pytest.mark.parametrize(
    ("objectives", "task", "key", "allowed"),
    [
        (Objectives(min_accuracy=0.9, max_rmse=10), "classification", "objectives.max_rmse", "min_accuracy"),
        (
            Objectives(min_r2=0.5, min_roc_auc=0.9, min_f1=0.8),
            "regression",
            "objectives.min_roc_auc, objectives.min_f1",
            "max_rmse",
        ),
    ],
)
def test_an_objective_of_the_other_task_is_named(objectives: Objectives, task: str, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        objectives.limits_for(task)
    message = str(caught.value)
    assert message.startswith(f"{key}: not an objective of {task} (the contract's target decides the task)")
    assert allowed in message


def test_every_metric_of_a_task_may_be_an_objective_of_it() -> None:
    floors = Objectives.model_validate({f"min_{metric}": 0.5 for metric in TASK_METRICS["classification"]})
    assert {limit.metric for limit in floors.limits_for("classification")} == set(TASK_METRICS["classification"])
    regression = Objectives(max_rmse=10, max_mae=5, min_r2=0.5)
    assert regression.limits_for("regression") == [
        Limit("rmse", "max", 10),
        Limit("mae", "max", 5),
        Limit("r2", "min", 0.5),
    ]
    assert regression.declared() == {"max_rmse": 10, "max_mae": 5, "min_r2": 0.5}
    assert Objectives(max_drift_share=0.1).limits() == []  # drift limits are not metric objectives


@pytest.mark.parametrize("estimator", ["RandomForestClassifier", "sklearn.ensemble.RandomForestClassifier", "a b:C"])
def test_the_estimator_must_be_a_module_and_class(tmp_path: Path, estimator: str) -> None:
    raw = shipped()
    raw["training"]["estimator"] = estimator
    with pytest.raises(ConfigError, match=r"training\.estimator: String should match pattern"):
        load_settings(write_config(tmp_path, raw))


def test_without_an_estimator_or_params_the_defaults_apply(tmp_path: Path) -> None:
    raw = shipped()
    raw["training"] = {"test_size": 0.3}
    training = load_settings(write_config(tmp_path, raw)).training
    assert (training.estimator, training.params, training.test_size) == (None, {}, 0.3)


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"file not found.*--config"):
        load_settings(tmp_path / "config" / "project.yaml")


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_settings(write_config(tmp_path, "- just\n- a list\n"))


def test_broken_yaml_is_refused_with_the_file_name(tmp_path: Path) -> None:
    path = write_config(tmp_path, "objectives: [unclosed\n")
    with pytest.raises(ConfigError, match=f"{path}: cannot be read as YAML"):
        load_settings(path)


def test_the_prediction_log_folder_is_in_the_project_unless_the_environment_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(SHIPPED)
    monkeypatch.delenv("PREDICTION_LOG_DIR")
    assert settings.prediction_log_dir == ROOT / shipped()["serving"]["prediction_log_dir"]
    monkeypatch.setenv("PREDICTION_LOG_DIR", str(tmp_path))
    assert settings.prediction_log_dir == tmp_path


def test_drift_settings_refuse_a_cap_that_would_change_the_methods(tmp_path: Path) -> None:
    raw = shipped()
    raw["drift"]["max_rows"] = 500
    with pytest.raises(ConfigError, match=r"drift\.max_rows: Input should be greater than or equal to 1000"):
        load_settings(write_config(tmp_path, raw))


@pytest.mark.parametrize(
    ("drift", "message"),
    [
        ({"min_rows": 0}, r"drift\.min_rows: Input should be greater than or equal to 1"),
        ({"min_rows": 5000, "max_rows": 4000}, r"drift\.max_rows: Value error, must be at least min_rows \(5000\)"),
    ],
    ids=["zero", "above-the-cap"],
)
def test_drift_settings_refuse_a_minimum_sample_no_run_could_meet(
    tmp_path: Path, drift: dict[str, int], message: str
) -> None:
    raw = shipped()
    raw["drift"] |= drift
    with pytest.raises(ConfigError, match=message):
        load_settings(write_config(tmp_path, raw))


# data.source: a loader, a file in the repository or a URL; each kind takes its own data.path/data.sha256.
SHA = "ab" * 32
URL = "https://example.org/tables/train.csv"


@pytest.mark.parametrize(
    ("data", "kind", "path"),
    [
        ({"source": "some_package.loaders:load", "path": "data/cache/train.csv"}, "loader", "data/cache/train.csv"),
        ({"source": "data/train.csv", "path": "data/train.csv"}, "file", "data/train.csv"),
        ({"source": "data/train.parquet", "path": "./data/train.parquet"}, "file", "data/train.parquet"),
        ({"source": "tables/../data/train.csv", "path": "data/train.csv"}, "file", "data/train.csv"),
        ({"source": URL, "path": "data/cache/train.csv", "sha256": SHA.upper()}, "url", "data/cache/train.csv"),
        ({"source": "file:///srv/tables/train.csv", "path": "data/cache/t.parquet", "sha256": SHA}, "url", None),
    ],
    ids=["loader", "file", "parquet-file", "file-normalised", "https", "file-url"],
)
def test_the_kind_of_data_source_is_told_by_its_form(
    tmp_path: Path, data: dict[str, str], kind: str, path: str | None
) -> None:
    settings = load_settings(write_config(tmp_path, shipped() | {"data": data}))
    assert settings.data.kind == kind
    assert settings.data_path == tmp_path / (path or data["path"])
    assert settings.data.sha256 == (SHA if kind == "url" else None)


PINNED = {"path": "data/cache/t.csv", "sha256": SHA}  # what a URL source needs beside it
BAD_DATA = {
    "http": ({"source": "http://example.org/t.csv"} | PINNED, r"source: .*plain http:// is refused.*use the https://"),
    "ftp": ({"source": "ftp://example.org/t.csv"} | PINNED, r"source: .*ftp:// is not supported"),
    "credentials": ({"source": "https://someone@example.org/t.csv"} | PINNED, r"source: .*credentials"),
    "no-host": ({"source": "https:///t.csv"} | PINNED, r"source: .*names no host"),
    "relative-file-url": ({"source": "file://tables/t.csv"} | PINNED, r"source: .*file:///srv/data/train\.csv"),
    "absolute-file": ({"source": "/srv/train.csv"}, r"source: .*an absolute path; a file source is a file committed"),
    "dotdot-file": ({"source": "../train.csv"}, r"source: .*points outside the project root.*move the file into"),
    "dotdot-inside": ({"source": "data/../../train.csv"}, r"source: .*points outside the project root"),
    "not-a-table": ({"source": "data/train.txt"}, r"source: .*neither a loader \('module:function'\), nor a file"),
    "loader-typo": ({"source": "some_package.loaders:load-it", "path": "d.csv"}, r"source: .*neither a loader"),
    "path-mismatch": (
        {"source": "data/train.csv", "path": "data/other.csv"},
        r"path: .*data/other\.csv is not data\.source data/train\.csv.*set data\.path to data/train\.csv too",
    ),
    "file-without-path": ({"source": "data/train.csv"}, r"path: .*required: .*data\.source names: data/train\.csv"),
    "loader-without-path": ({"source": "a_package:load"}, r"path: .*required when data\.source is a module:function"),
    "url-without-path": ({"source": URL, "sha256": SHA}, r"path: .*required when data\.source is a URL"),
    "path-not-a-table": ({"source": URL, "path": "t.json", "sha256": SHA}, r"path: .*must end in \.csv or \.parquet"),
    "url-without-sha256": (
        {"source": URL, "path": "d.csv"},
        rf"sha256: .*required when data\.source is a URL.*`curl -fsSL {URL} \| sha256sum`",
    ),
    "file-url-without-sha256": ({"source": "file:///srv/t.csv", "path": "d.csv"}, r"sha256: .*`sha256sum /srv/t\.csv`"),
    "bad-sha256": ({"source": URL, "path": "d.csv", "sha256": "not-a-hash"}, r"sha256: .*64 hexadecimal digits"),
    "sha256-of-a-file": ({"source": "t.csv", "path": "t.csv", "sha256": SHA}, r"sha256: .*only taken with a URL"),
}


@pytest.mark.parametrize(("data", "message"), list(BAD_DATA.values()), ids=list(BAD_DATA))
def test_a_bad_data_section_names_the_key_and_the_fix(tmp_path: Path, data: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"\n  data\.{message}") as caught:
        load_settings(write_config(tmp_path, shipped() | {"data": data}))
    assert len(str(caught.value).splitlines()) == 2  # the file, then one line: no knock-on error about other keys
