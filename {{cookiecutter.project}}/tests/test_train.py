"""Training: the quality gate per task, estimators of each task, refusals before fitting, and evaluation."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import Contract, ContractViolationError
from {{ cookiecutter.package }}.data import file_sha256, read_table, write_table
from {{ cookiecutter.package }}.errors import ConfigError, DataError, GateFailedError
from {{ cookiecutter.package }}.estimator import estimator_path
from {{ cookiecutter.package }}.evaluation import score
from {{ cookiecutter.package }}.settings import TASK_METRICS, Objectives, Settings, TrainingSettings
from {{ cookiecutter.package }}.train import evaluate, min_class_rows, split, train

from .support import (
    MIXED,
    MULTICLASS,
    PROJECT_CONTRACT,
    REGRESSION,
    break_first_feature,
    passing_objectives,
    settings_in,
    synthetic_frame,
)

MEASURED = r"-?\d+\.\d{4}"  # a metric as the gate prints it
CONTRACTS = {"project": PROJECT_CONTRACT, "regression": REGRESSION, "multiclass": MULTICLASS}


def settings_for(make_settings: Callable[..., Settings], contract: Contract, **changes: object) -> Settings:
    """The project's settings; for another contract than the project's, the task's default estimator and objectives.

    The shipped estimator and objectives are of the project's task, which may not be the contract's.
    """
    if contract is PROJECT_CONTRACT:
        return make_settings(**changes)
    defaults = {"training": TrainingSettings(), "objectives": passing_objectives(contract)}
    return make_settings(**(defaults | changes))


def report_of(settings: Settings) -> dict[str, object]:
    return json.loads(settings.metrics_path.read_text())  # type: ignore[no-any-return]


def test_the_trained_model_meets_its_objectives_and_reports_them(
    trained: tuple[Settings, str], contract: Contract, frame: pd.DataFrame
) -> None:
    settings, tag = trained
    report = report_of(settings)
    assert tag.startswith(f"{settings.model_name}:")
    assert (report["passed"], report["failures"], report["task"]) == (True, [], contract.task)
    assert report["estimator"] == estimator_path(settings.training, contract.task)
    assert report["data_sha256"] == file_sha256(settings.data_path)
    assert report["objectives"] == settings.objectives.declared()
    test_rows = math.ceil(settings.training.test_size * len(frame))
    assert report["rows"] == {"train": len(frame) - test_rows, "test": test_rows}
    metrics = report["metrics"]
    assert isinstance(metrics, dict)
    assert list(metrics) == list(TASK_METRICS[contract.task])
    for limit in settings.objectives.limits():
        assert limit.met(metrics[limit.metric]), limit.miss(metrics[limit.metric])


@pytest.mark.parametrize("which", CONTRACTS)
def test_the_gate_passes_on_learnable_data_and_registers(make_settings: Callable[..., Settings], which: str) -> None:
    contract = CONTRACTS[which]
    settings = settings_for(
        make_settings, contract, model_name=f"gate-pass-{which}", objectives=passing_objectives(contract)
    )
    write_table(synthetic_frame(contract, 300, seed=1), settings.data_path)
    tag = train(settings, contract)
    assert report_of(settings)["passed"] is True
    assert [version.tag for version in registry.list_versions(settings)] == [tag]


def test_training_plots_false_registers_the_version_without_plots(make_settings: Callable[..., Settings]) -> None:
    settings = settings_for(make_settings, MIXED, model_name="no-plots", objectives=passing_objectives(MIXED))
    assert settings.training.plots is False
    write_table(synthetic_frame(MIXED, 300, seed=1), settings.data_path)
    tag = train(settings, MIXED)
    assert registry.stored_plots(registry.get_model(settings, tag)) == []


@pytest.mark.parametrize("which", CONTRACTS)
def test_the_gate_fails_on_unlearnable_data_and_registers_nothing(
    make_settings: Callable[..., Settings], which: str
) -> None:
    contract = CONTRACTS[which]
    objectives = passing_objectives(contract)
    settings = settings_for(make_settings, contract, model_name=f"gate-fail-{which}", objectives=objectives)
    write_table(synthetic_frame(contract, 300, seed=1, learnable=False), settings.data_path)
    with pytest.raises(GateFailedError) as caught:
        train(settings, contract)
    report = report_of(settings)
    metrics = report["metrics"]
    assert isinstance(metrics, dict)
    (limit,) = objectives.limits()
    assert report["passed"] is False
    assert report["failures"] == [limit.miss(metrics[limit.metric])]
    side = "below the floor" if limit.bound == "min" else "above the ceiling"
    pattern = rf"quality gate failed: the model was not registered .*\n  - {limit.metric} = {MEASURED} is {side} "
    assert re.match(pattern + re.escape(f"{limit.key} = {limit.value:g}"), str(caught.value))
    assert registry.list_versions(settings) == []


def test_a_missed_regression_ceiling_names_the_metric_its_value_and_the_ceiling(
    make_settings: Callable[..., Settings],
) -> None:
    objectives = Objectives(max_rmse=0.001, min_r2=0.5)
    settings = settings_for(make_settings, REGRESSION, model_name="gate-ceiling", objectives=objectives)
    write_table(synthetic_frame(REGRESSION, 300, seed=1), settings.data_path)
    with pytest.raises(GateFailedError) as caught:
        train(settings, REGRESSION)
    failures = report_of(settings)["failures"]
    assert isinstance(failures, list)
    assert len(failures) == 1  # r2 is met: only the ceiling is listed
    assert re.fullmatch(r"rmse = \d+\.\d{4} is above the ceiling objectives\.max_rmse = 0\.001", failures[0])
    assert failures[0] in str(caught.value)
    assert registry.list_versions(settings) == []


@pytest.mark.parametrize(
    ("contract", "estimator", "params"),
    [
        (MIXED, None, {}),  # HistGradientBoosting, native categories
        (MIXED, "sklearn.ensemble:RandomForestClassifier", {"n_estimators": 30}),
        (MULTICLASS, "sklearn.linear_model:LogisticRegression", {"C": 10.0}),  # imputed, scaled, one-hot
        (REGRESSION, None, {}),
        (REGRESSION, "sklearn.linear_model:Ridge", {"alpha": 0.1}),
    ],
    ids=["mixed-hgb", "mixed-forest", "multiclass-logistic", "regression-hgb", "regression-ridge"],
)
def test_each_task_trains_and_predicts_with_several_estimators(
    tmp_path: Path, contract: Contract, estimator: str | None, params: dict[str, object]
) -> None:
    name = f"estimator-{contract.task}-{(estimator or 'default').rpartition(':')[2].lower()}"
    training = TrainingSettings(estimator=estimator, params=params)
    settings = settings_in(tmp_path, model_name=name, objectives=passing_objectives(contract), training=training)
    write_table(synthetic_frame(contract, 300), settings.data_path)
    model = registry.load(settings, train(settings, contract))
    path = estimator_path(settings.training, contract.task)
    assert model.metadata["estimator"] == path
    assert type(model.pipeline[-1]).__name__ == path.rpartition(":")[2]
    assert {key: model.pipeline[-1].get_params()[key] for key in params} == params
    frame = synthetic_frame(contract, 300, seed=0)  # the rows it was trained on
    metrics = score(model, contract.coerce_features(frame), frame[contract.target.name])
    (limit,) = passing_objectives(contract).limits()
    assert limit.met(metrics[limit.metric]), limit.miss(metrics[limit.metric])


@pytest.mark.parametrize(("contract", "rare_rows"), [(MIXED, 3), (MULTICLASS, 1)])
def test_a_class_with_too_few_rows_is_named_with_its_count_and_the_minimum(
    make_settings: Callable[..., Settings], contract: Contract, rare_rows: int
) -> None:
    settings = settings_for(make_settings, contract)
    target, classes = contract.target.name, contract.target.classes  # type: ignore[union-attr]
    frame = synthetic_frame(contract, 200)
    common = classes[:-1]
    frame[target] = [common[i % len(common)] for i in range(len(frame) - rare_rows)] + [classes[-1]] * rare_rows
    write_table(frame, settings.data_path)
    needed = min_class_rows(settings.training.test_size)
    assert rare_rows < needed
    with pytest.raises(DataError) as caught:
        train(settings, contract)
    assert f"{target}: {classes[-1]!r} has {rare_rows} rows; each class needs at least {needed} rows" in str(
        caught.value
    )
    assert f"training.test_size = {settings.training.test_size}" in str(caught.value)
    assert not settings.metrics_path.exists()


@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.25, 0.5, 0.8])
def test_a_class_with_the_minimum_rows_lands_in_both_parts_of_the_split(test_size: float) -> None:
    needed = min_class_rows(test_size)
    frame = synthetic_frame(MIXED, 200)
    target = MIXED.target.name
    rare = MIXED.target.classes[-1]  # type: ignore[union-attr]
    frame[target] = [rare] * needed + [MIXED.target.classes[0]] * (len(frame) - needed)  # type: ignore[union-attr]
    parts = split(frame, MIXED, TrainingSettings(test_size=test_size))
    assert rare in set(parts.y_train)
    assert rare in set(parts.y_test)
    with pytest.raises(DataError, match=f"has {needed - 1} rows"):
        split(frame.iloc[1:], MIXED, TrainingSettings(test_size=test_size))


def test_a_single_class_is_refused(make_settings: Callable[..., Settings]) -> None:
    settings = settings_for(make_settings, MIXED)
    frame = synthetic_frame(MIXED, 100).assign(**{MIXED.target.name: MIXED.target.classes[0]})  # type: ignore[union-attr]
    write_table(frame, settings.data_path)
    with pytest.raises(DataError, match=f"{MIXED.target.name}: the training data holds a single class"):
        train(settings, MIXED)


def test_bad_training_data_is_refused_before_fitting(
    make_settings: Callable[..., Settings], contract: Contract, frame: pd.DataFrame
) -> None:
    settings = make_settings(model_name="bad-data-test")
    broken, problem = break_first_feature(frame, contract, rows=3)
    write_table(broken, settings.data_path)
    with pytest.raises(ContractViolationError) as caught:
        train(settings, contract)
    assert caught.value.problems == [problem]
    assert str(problem) in str(caught.value)
    assert not settings.metrics_path.exists()
    assert registry.list_versions(settings) == []


def test_missing_training_data_says_to_run_make_data(
    make_settings: Callable[..., Settings], contract: Contract
) -> None:
    with pytest.raises(DataError, match="training data not found; run `make data`"):
        train(make_settings(), contract)


def test_settings_that_cannot_work_are_refused_before_the_data_is_read(
    make_settings: Callable[..., Settings], contract: Contract
) -> None:
    """No data file exists here: a ConfigError, not "run `make data`", shows the settings were checked first."""
    wrong_task = Objectives(min_r2=0.1) if contract.task == "classification" else Objectives(min_accuracy=0.5)
    with pytest.raises(ConfigError, match=rf"objectives\.min_(r2|accuracy): not an objective of {contract.task}"):
        train(make_settings(objectives=wrong_task), contract)
    training = TrainingSettings(estimator="sklearn.ensemble:NoSuchForest")
    with pytest.raises(ConfigError, match=r"training\.estimator: cannot import"):
        train(make_settings(training=training), contract)


def test_a_parameter_value_the_estimator_refuses_is_a_config_error(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(training=TrainingSettings(params={"learning_rate": -1.0}), objectives=Objectives())
    write_table(synthetic_frame(MIXED, 100), settings.data_path)
    with pytest.raises(ConfigError, match=r"training\.params: .*learning_rate"):
        train(settings, MIXED)


def test_evaluate_reproduces_the_training_metrics_on_the_training_file(trained: tuple[Settings, str]) -> None:
    settings, tag = trained
    evaluation = evaluate(settings, tag, None)
    report = report_of(settings)
    assert evaluation.scope == "hold-out rows of the training split"
    assert evaluation.rows == report["rows"]["test"]  # type: ignore[index]
    assert evaluation.metrics == report["metrics"]
    assert evaluation.limits == settings.objectives.limits()
    assert evaluation.gate.passed


def test_evaluate_scores_any_other_labelled_file_whole(
    trained: tuple[Settings, str], contract: Contract, frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    write_table(frame.sample(100, random_state=1), tmp_path / "fresh.csv")
    rows = read_table(tmp_path / "fresh.csv")  # as scored: CSV text may not give back the very same floats
    evaluation = evaluate(settings, tag, tmp_path / "fresh.csv")
    assert (evaluation.scope, evaluation.rows) == ("all rows", 100)
    model = registry.load(settings, tag)
    expected = score(model, contract.coerce_features(rows), contract.coerce_target(rows[contract.target.name]))
    assert evaluation.metrics == pytest.approx(expected)


def test_a_single_row_gives_nan_for_what_it_cannot_measure_and_misses_that_objective(
    trained: tuple[Settings, str], contract: Contract, frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    metric = {"classification": "roc_auc", "regression": "r2"}[contract.task]  # needs two classes / two rows
    undefined = {metric}
    settings = settings.model_copy(update={"objectives": Objectives.model_validate({f"min_{metric}": 0.0})})
    write_table(frame.head(1), tmp_path / "one.csv")
    evaluation = evaluate(settings, tag, tmp_path / "one.csv")
    assert evaluation.rows == 1
    assert {name for name, value in evaluation.metrics.items() if math.isnan(value)} == undefined
    assert evaluation.gate.failures == [
        f"{metric} could not be measured on this data (NaN), so objectives.min_{metric} = 0 is not met"
    ]
