from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import Contract, ContractViolationError
from {{ cookiecutter.package }}.data import write_table
from {{ cookiecutter.package }}.errors import DataError, GateFailedError
from {{ cookiecutter.package }}.settings import Objectives, Settings
from {{ cookiecutter.package }}.train import RowEncoder, evaluate, train

from .support import MIXED, mixed_frame


def test_training_on_the_default_data_meets_the_objectives(trained: tuple[Settings, str]) -> None:
    settings, tag = trained
    report = json.loads(settings.metrics_path.read_text())
    assert report["passed"] is True
    assert report["failures"] == []
    assert report["rows"] == {"train": 455, "test": 114}
    for metric, floor in settings.objectives.floors().items():
        assert report["metrics"][metric] >= floor
    assert tag.startswith(f"{settings.model_name}:")


def test_a_missed_objective_fails_the_gate_and_registers_nothing(
    make_settings: Callable[..., Settings], contract: Contract, breast_cancer: pd.DataFrame
) -> None:
    settings = make_settings(model_name="gate-test")
    noise = breast_cancer.assign(malignant=np.random.default_rng(0).integers(0, 2, len(breast_cancer)))
    write_table(noise, settings.data_path)
    with pytest.raises(GateFailedError, match=r"roc_auc = 0\.\d{4} is below the floor objectives.min_roc_auc = 0.97"):
        train(settings, contract)
    report = json.loads(settings.metrics_path.read_text())
    assert report["passed"] is False
    assert registry.list_versions(settings) == []


def test_bad_training_data_is_refused_before_fitting(
    make_settings: Callable[..., Settings], contract: Contract, breast_cancer: pd.DataFrame
) -> None:
    settings = make_settings(model_name="bad-data-test")
    write_table(breast_cancer.assign(mean_radius=-1.0), settings.data_path)
    with pytest.raises(ContractViolationError, match="mean_radius: must be >= 0"):
        train(settings, contract)
    assert not settings.metrics_path.exists()
    assert registry.list_versions(settings) == []


def test_missing_training_data_says_to_run_make_data(
    make_settings: Callable[..., Settings], contract: Contract
) -> None:
    with pytest.raises(DataError, match="run `make data`"):
        train(make_settings(), contract)


def test_a_contract_with_categorical_features_trains(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(model_name="churn-test", objectives=Objectives(min_roc_auc=0.8))
    frame = mixed_frame()
    frame.loc[::7, "plan"] = None
    write_table(frame, settings.data_path)
    tag = train(settings, MIXED)
    pipeline = registry.load_pipeline(registry.get_model(settings, tag))
    unseen = pd.DataFrame({"tenure_months": [3.0, 100.0], "plan": ["basic", None]})
    assert list(pipeline.predict(unseen)) == ["yes", "no"]


def test_the_row_encoder_matches_the_pipeline_preprocessing(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(model_name="encoder-test", objectives=Objectives())
    frame = mixed_frame(60)
    frame.loc[::5, "plan"] = None
    write_table(frame, settings.data_path)
    pipeline = registry.load_pipeline(registry.get_model(settings, train(settings, MIXED)))
    rows = frame[MIXED.feature_names].astype(object).where(frame[MIXED.feature_names].notna(), None)
    expected = pipeline[:-1].transform(frame[MIXED.feature_names])
    np.testing.assert_array_equal(RowEncoder(MIXED)(rows.to_dict("records")), expected)
    unknown = RowEncoder(MIXED)([{"tenure_months": None, "plan": "enterprise"}])
    assert np.isnan(unknown).all()


def test_evaluate_reproduces_the_training_metrics_on_the_training_file(trained: tuple[Settings, str]) -> None:
    settings, tag = trained
    evaluation = evaluate(settings, tag, None)
    assert evaluation.scope == "hold-out rows of the training split"
    assert evaluation.metrics == json.loads(settings.metrics_path.read_text())["metrics"]
    assert evaluation.gate.passed


def test_evaluate_scores_any_other_labelled_file_whole(
    trained: tuple[Settings, str], breast_cancer: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    fresh = tmp_path / "fresh.csv"
    write_table(breast_cancer.sample(100, random_state=1), fresh)
    evaluation = evaluate(settings, tag, fresh)
    assert (evaluation.scope, evaluation.rows) == ("all rows", 100)
