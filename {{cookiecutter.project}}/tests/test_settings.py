from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package }}.errors import ConfigError
from {{ cookiecutter.package }}.settings import load_settings

from .support import ROOT


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "project.yaml"
    path.parent.mkdir()
    path.write_text(text)
    return path


def test_the_shipped_settings_load_and_resolve_against_the_project_root() -> None:
    settings = load_settings(ROOT / "config" / "project.yaml")
    assert settings.root == ROOT
    assert settings.data_path == ROOT / "data" / "breast_cancer.csv"
    assert settings.objectives.floors() == {"roc_auc": 0.97, "accuracy": 0.92, "f1": 0.88}


def test_a_bad_value_names_the_key_and_the_value(tmp_path: Path) -> None:
    text = (ROOT / "config" / "project.yaml").read_text().replace("min_roc_auc: 0.97", "min_roc_auc: 1.5")
    with pytest.raises(ConfigError, match=r"objectives\.min_roc_auc: .*less than or equal to 1 \(got 1\.5\)"):
        load_settings(write_config(tmp_path, text))


def test_an_unknown_key_is_refused_by_name(tmp_path: Path) -> None:
    text = (ROOT / "config" / "project.yaml").read_text().replace("min_f1:", "min_f2:")
    with pytest.raises(ConfigError, match=r"objectives\.min_f2: Extra inputs are not permitted"):
        load_settings(write_config(tmp_path, text))


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
    settings = load_settings(ROOT / "config" / "project.yaml")
    monkeypatch.delenv("PREDICTION_LOG_DIR")
    assert settings.prediction_log_dir == ROOT / "logs" / "predictions"
    monkeypatch.setenv("PREDICTION_LOG_DIR", str(tmp_path))
    assert settings.prediction_log_dir == tmp_path


def test_drift_settings_refuse_a_cap_that_would_change_the_methods(tmp_path: Path) -> None:
    text = (ROOT / "config" / "project.yaml").read_text().replace("max_rows: 10000", "max_rows: 500")
    with pytest.raises(ConfigError, match=r"drift\.max_rows: Input should be greater than or equal to 1000"):
        load_settings(write_config(tmp_path, text))
