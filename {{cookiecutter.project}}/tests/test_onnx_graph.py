"""ONNX graphs: converted from the fitted pipeline, held to it by the parity gate, or refused with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package }} import onnx_graph
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.model import Model
from {{ cookiecutter.package }}.settings import TrainingSettings
from {{ cookiecutter.package }}.train import fit, split

from .support import (
    CONVERTING,
    MIXED,
    MULTICLASS,
    PROJECT_CONTRACT,
    REGRESSION,
    passing_objectives,
    records_of,
    settings_in,
    synthetic_frame,
)

ROWS = 300


def fitted(folder: Path, contract: Contract, estimator: str | None = None, seed: int = 0) -> tuple[Model, np.ndarray]:
    """A fitted (unregistered) model of ``contract`` and the raw matrix of its hold-out rows."""
    training = TrainingSettings(estimator=estimator)
    settings = settings_in(folder, objectives=passing_objectives(contract), training=training)
    parts = split(synthetic_frame(contract, ROWS, seed=seed), contract, settings.training)
    model = fit(settings, contract, parts)
    return model, model.frame_matrix(parts.test)


CONVERTIBLE = [
    pytest.param(PROJECT_CONTRACT, CONVERTING[PROJECT_CONTRACT.task], id="project"),
    pytest.param(MIXED, "sklearn.linear_model:LogisticRegression", id="mixed-logistic"),
    pytest.param(MIXED, "sklearn.ensemble:GradientBoostingClassifier", id="mixed-gradient-boosting"),
    pytest.param(MULTICLASS, "sklearn.linear_model:LogisticRegression", id="multiclass-logistic"),
    pytest.param(REGRESSION, "sklearn.linear_model:Ridge", id="regression-ridge"),
]


@pytest.mark.parametrize(("contract", "estimator"), CONVERTIBLE)
def test_a_converted_graph_answers_as_the_pipeline_does(
    tmp_path: Path, contract: Contract, estimator: str | None
) -> None:
    model, matrix = fitted(tmp_path, contract, estimator)
    conversion = onnx_graph.build(model, matrix)
    assert conversion.graph is not None, conversion.reason
    assert conversion.parity is not None
    assert conversion.parity.passed
    assert conversion.metadata()["runtime"] == "onnx"
    on_onnx = model.with_graph(onnx_graph.Runner(conversion.graph))
    assert on_onnx.runtime == "onnx"
    assert model.runtime == "sklearn"
    records = records_of(synthetic_frame(contract, 40, seed=7), contract)  # nulls included, through the record path
    ours, theirs = on_onnx.predict_records(records), model.predict_records(records)
    if contract.task == "regression":
        np.testing.assert_allclose(ours.values, theirs.values, rtol=onnx_graph.RELATIVE_TOLERANCE)
    else:
        assert ours.values == theirs.values
        assert ours.probabilities is not None
        assert theirs.probabilities is not None
        np.testing.assert_allclose(ours.probabilities, theirs.probabilities, atol=onnx_graph.PROBABILITY_TOLERANCE)


def test_the_default_estimator_converts_unless_it_splits_categories_natively(tmp_path: Path) -> None:
    model, matrix = fitted(tmp_path, PROJECT_CONTRACT)  # the task's default: HistGradientBoosting
    conversion = onnx_graph.build(model, matrix)
    assert (conversion.graph is not None) == (not PROJECT_CONTRACT.categorical), conversion.reason


def test_native_categorical_splits_are_registered_sklearn_only_with_the_reason(tmp_path: Path) -> None:
    model, matrix = fitted(tmp_path, MIXED)  # HistGradientBoosting with native categories: no converter
    conversion = onnx_graph.build(model, matrix)
    assert conversion.graph is None
    assert conversion.reason.startswith("HistGradientBoostingClassifier did not convert to ONNX: ")
    assert "\n" not in conversion.reason
    assert conversion.metadata() == {"runtime": "sklearn", "reason": conversion.reason}


def test_the_parity_gate_refuses_a_graph_that_answers_differently(tmp_path: Path) -> None:
    linear = CONVERTING[PROJECT_CONTRACT.task]
    model, matrix = fitted(tmp_path / "a", PROJECT_CONTRACT, linear)
    other, _ = fitted(tmp_path / "b", PROJECT_CONTRACT, linear, seed=1)
    foreign = onnx_graph.Runner(onnx_graph.convert(other.pipeline, PROJECT_CONTRACT))
    checked = onnx_graph.parity(model, foreign, matrix)
    assert not checked.passed
    assert checked.describe().startswith(f"{len(matrix)} rows, ")


def test_a_regression_graph_is_held_to_a_relative_tolerance(tmp_path: Path) -> None:
    model, matrix = fitted(tmp_path, REGRESSION, "sklearn.linear_model:Ridge")
    graph = onnx_graph.Runner(onnx_graph.convert(model.pipeline, REGRESSION))
    checked = onnx_graph.parity(model, graph, matrix)
    assert checked.passed
    assert checked.labels_differ == 0
    off = onnx_graph.Parity("regression", checked.rows, 0, 2 * onnx_graph.RELATIVE_TOLERANCE)
    assert not off.passed


def test_trees_that_route_missing_numbers_fail_the_parity_gate(tmp_path: Path) -> None:
    """skl2onnx drops the side scikit-learn's forests send a missing number to: the gate must catch it."""
    model, matrix = fitted(tmp_path, REGRESSION, "sklearn.ensemble:RandomForestRegressor")
    assert pd.isna(matrix[:, [f.type == "numeric" for f in REGRESSION.features]]).any()  # missing numbers
    conversion = onnx_graph.build(model, matrix)
    assert conversion.graph is None
    assert conversion.reason.startswith("the ONNX graph failed the parity gate (")
