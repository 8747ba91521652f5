"""The quality gate (floors and ceilings, NaN and missing metrics) and the metrics of each task."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, recall_score, roc_auc_score

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import CategoricalTarget, Contract
from {{ cookiecutter.package }}.evaluation import check_objectives, score
from {{ cookiecutter.package }}.model import Model
from {{ cookiecutter.package }}.settings import TASK_METRICS, Limit, Objectives

from .support import MIXED, MULTICLASS, REGRESSION, synthetic_frame, train_on

CLASSIFICATION = {"accuracy": 0.95, "roc_auc": 0.99, "f1": 0.9, "precision": 0.92, "recall": 0.88}
REGRESSION_METRICS = {"rmse": 12.5, "mae": 9.0, "r2": 0.6}


def test_the_gate_passes_when_every_floor_is_met() -> None:
    limits = Objectives(min_roc_auc=0.99, min_accuracy=0.9).limits_for("classification")
    assert check_objectives(CLASSIFICATION, limits).passed


def test_the_gate_names_each_missed_floor_with_its_value_in_declaration_order() -> None:
    limits = Objectives(min_roc_auc=0.995, min_f1=0.5, min_recall=0.9).limits()
    gate = check_objectives(CLASSIFICATION, limits)
    assert not gate.passed
    assert gate.failures == [
        "roc_auc = 0.9900 is below the floor objectives.min_roc_auc = 0.995",
        "recall = 0.8800 is below the floor objectives.min_recall = 0.9",
    ]


def test_ceilings_are_met_at_or_below_and_missed_above() -> None:
    assert check_objectives(REGRESSION_METRICS, Objectives(max_rmse=12.5, max_mae=10, min_r2=0.6).limits()).passed
    gate = check_objectives(REGRESSION_METRICS, Objectives(max_rmse=12, max_mae=9, min_r2=0.7).limits())
    assert gate.failures == [
        "rmse = 12.5000 is above the ceiling objectives.max_rmse = 12",
        "r2 = 0.6000 is below the floor objectives.min_r2 = 0.7",
    ]


def test_a_negative_r2_is_measured_and_compared() -> None:
    gate = check_objectives({"r2": -0.25}, [Limit("r2", "min", 0.0)])
    assert gate.failures == ["r2 = -0.2500 is below the floor objectives.min_r2 = 0"]


@pytest.mark.parametrize("limit", [Limit("roc_auc", "min", 0.0), Limit("rmse", "max", 1e9)])
def test_a_nan_or_missing_metric_never_meets_an_objective(limit: Limit) -> None:
    assert not limit.met(math.nan)
    assert not limit.met(None)
    message = f"{limit.metric} could not be measured on this data (NaN), so {limit.key} = {limit.value:g} is not met"
    assert check_objectives({limit.metric: math.nan}, [limit]).failures == [message]
    assert check_objectives({}, [limit]).failures == [message]


def test_no_objectives_means_nothing_to_miss() -> None:
    assert check_objectives(CLASSIFICATION, Objectives().limits()).passed
    assert check_objectives({"r2": math.nan}, []).passed


def test_a_limit_names_its_setting_and_its_side() -> None:
    floor, ceiling = Limit("f1", "min", 0.8), Limit("mae", "max", 3.5)
    assert (floor.key, floor.symbol, ceiling.key, ceiling.symbol) == (
        "objectives.min_f1",
        ">=",
        "objectives.max_mae",
        "<=",
    )
    assert (floor.met(0.8), floor.met(0.79), ceiling.met(3.5), ceiling.met(3.51)) == (True, False, True, False)
    assert floor.miss(0.5) == "f1 = 0.5000 is below the floor objectives.min_f1 = 0.8"
    assert ceiling.miss(4.25) == "mae = 4.2500 is above the ceiling objectives.max_mae = 3.5"


# -- the metrics of each task ---------------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Model]:
    folder = tmp_path_factory.mktemp("evaluation")
    found = {}
    for name, contract in (("mixed", MIXED), ("multiclass", MULTICLASS), ("regression", REGRESSION)):
        settings, tag = train_on(folder / name, contract, model_name=f"evaluation-{name}", rows=200)
        found[name] = registry.load(settings, tag)
    return found


def labelled(contract: Contract, rows: int = 200) -> tuple[pd.DataFrame, pd.Series]:
    frame = synthetic_frame(contract, rows)  # the rows the models were trained on
    return contract.coerce_features(frame), contract.coerce_target(frame[contract.target.name])


@pytest.mark.parametrize("which", ["mixed", "multiclass", "regression"])
def test_each_task_is_scored_with_its_own_metrics(models: dict[str, Model], which: str) -> None:
    model = models[which]
    metrics = score(model, *labelled(model.contract))
    assert list(metrics) == list(TASK_METRICS[model.task])
    assert all(isinstance(value, float) and not math.isnan(value) for value in metrics.values())


def test_a_binary_target_is_scored_for_its_positive_class(models: dict[str, Model]) -> None:
    model = models["mixed"]
    features, labels = labelled(MIXED)
    predictions = model.predict_frame(features)
    assert predictions.probabilities is not None
    for positive in MIXED.target.classes:  # type: ignore[union-attr]
        target = MIXED.target.model_copy(update={"positive_class": positive})
        scored = Model(model.tag, MIXED.model_copy(update={"target": target}), model.pipeline, model.reference)
        metrics = score(scored, features, labels)
        column = predictions.probabilities[:, model.classes.index(positive)]
        assert metrics["recall"] == pytest.approx(recall_score(labels, predictions.values, pos_label=positive))
        assert metrics["f1"] == pytest.approx(f1_score(labels, predictions.values, pos_label=positive))
        assert metrics["roc_auc"] == pytest.approx(roc_auc_score(labels == positive, column))


def test_several_classes_are_scored_by_macro_averages(models: dict[str, Model]) -> None:
    model = models["multiclass"]
    features, labels = labelled(MULTICLASS)
    assert isinstance(MULTICLASS.target, CategoricalTarget)
    predicted = model.predict_frame(features).values
    metrics = score(model, features, labels)
    assert metrics["recall"] == pytest.approx(recall_score(labels, predicted, average="macro"))
    assert metrics["f1"] == pytest.approx(f1_score(labels, predicted, average="macro"))


@pytest.mark.parametrize(
    ("which", "undefined"), [("mixed", {"roc_auc"}), ("multiclass", {"roc_auc"}), ("regression", {"r2"})]
)
def test_a_metric_the_rows_cannot_define_is_nan(models: dict[str, Model], which: str, undefined: set[str]) -> None:
    model = models[which]
    features, labels = labelled(model.contract)
    metrics = score(model, features.head(1), labels.head(1))
    assert {name for name, value in metrics.items() if math.isnan(value)} == undefined
    if model.task == "classification":  # a class absent from the rows: no ROC AUC, the rest is measured
        kept = labels != model.classes[-1]
        some = score(model, features[kept], labels[kept])
        assert math.isnan(some["roc_auc"])
        assert not np.isnan([some["accuracy"], some["f1"], some["precision"], some["recall"]]).any()
