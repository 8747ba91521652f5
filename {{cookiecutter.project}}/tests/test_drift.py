"""The drift check on synthetic data of small contracts (mixed types, regression, multi-class), its refusals,
and the closed serve -> log -> drift loop on the project's own contract."""

from __future__ import annotations

import asyncio
import fcntl
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import bentoml
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score, root_mean_squared_error

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import CategoricalFeature, Contract, NumericFeature
from {{ cookiecutter.package }}.data import read_table, write_table
from {{ cookiecutter.package }}.drift import DISTRIBUTIONS, check_drift
from {{ cookiecutter.package }}.errors import ProjectError
from {{ cookiecutter.package }}.prediction_log import PredictionLog
from {{ cookiecutter.package }}.settings import TASK_METRICS, Objectives, Settings
from {{ cookiecutter.package }}.train import split

from .support import MIXED, MULTICLASS, REGRESSION, mixed_frame, records_of, span, synthetic_frame, train_on


def with_drift(settings: Settings, folder: Path, **changes: object) -> Settings:
    """Settings whose drift reports go to ``folder``, with other drift settings changed."""
    drift = settings.drift.model_copy(update={"reports_dir": folder} | changes)
    return settings.model_copy(update={"drift": drift})


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A model of the mixed contract, its reference large enough for distance-based drift methods."""
    folder = tmp_path_factory.mktemp("mixed")
    settings, _ = train_on(folder, MIXED, model_name="drift-mixed", rows=6000, reference_rows=2000)
    floors = Objectives(min_roc_auc=0.8, min_accuracy=0.7, min_f1=0.6, min_precision=0.6, min_recall=0.6)
    return settings.model_copy(update={"objectives": floors})


def current_file(folder: Path, frame: pd.DataFrame, name: str = "current.parquet") -> Path:
    path = folder / name
    write_table(frame, path)
    return path


def holdout(settings: Settings, contract: Contract) -> pd.DataFrame:
    """The labelled rows a model was not trained on: the hold-out part of its training table.

    Labelled current data must come from the model's own table: ``synthetic_frame`` draws how the
    features explain the target afresh for each seed, so another seed's labels follow other rules.
    """
    table = read_table(settings.data_path)
    rows = split(table, contract, settings.training).test.index
    return table.loc[rows].reset_index(drop=True)


def unlabelled(rows: int, seed: int) -> pd.DataFrame:
    return mixed_frame(rows, seed).drop(columns="churned")


def test_an_independent_sample_of_the_same_distribution_does_not_drift(mixed: Settings, tmp_path: Path) -> None:
    summary = check_drift(with_drift(mixed, tmp_path), current_file(tmp_path, unlabelled(1500, 7))).summary
    assert summary["drift_detected"] is False
    assert summary["drifted_features"] == []
    assert summary["prediction"]["drifted"] is False
    assert summary["quality"] is None
    assert summary["distributions"] is None  # no drifted feature, no picture
    assert not list(tmp_path.glob(f"*/{DISTRIBUTIONS}"))


def test_a_shifted_numeric_feature_is_flagged(mixed: Settings, tmp_path: Path) -> None:
    frame = unlabelled(1500, 8)
    frame["tenure_months"] = (frame["tenure_months"] + 60).clip(upper=240)
    result = check_drift(with_drift(mixed, tmp_path), current_file(tmp_path, frame))
    assert result.summary["drifted_features"] == ["tenure_months"]
    assert result.summary["drift_detected"] is True  # 1 of 2 features > 0.3
    assert result.failures == ["1 of 2 features drifted (share 0.50 > objectives.max_drift_share 0.3): tenure_months"]
    verdict = result.summary["features"]["tenure_months"]
    assert (verdict["method"], verdict["threshold"]) == ("Wasserstein distance (normed)", 0.1)
    assert verdict["score"] > 0.1
    assert result.summary["distributions"] == DISTRIBUTIONS
    picture = (result.folder / DISTRIBUTIONS).read_text()
    assert ">tenure_months</text>" in picture  # the drifted feature's panel
    assert ">plan</text>" not in picture  # and only that one
    assert f"<dc:identifier>{result.summary['model_version']}</dc:identifier>" in picture


def test_a_shifted_categorical_feature_is_flagged(mixed: Settings, tmp_path: Path) -> None:
    frame = unlabelled(1500, 9)
    frame["plan"] = np.random.default_rng(9).choice(["basic", "pro", "team"], len(frame), p=[0.8, 0.1, 0.1])
    summary = check_drift(with_drift(mixed, tmp_path), current_file(tmp_path, frame)).summary
    assert summary["drifted_features"] == ["plan"]
    assert summary["features"]["plan"]["method"] == "Jensen-Shannon distance"


def test_a_per_feature_threshold_overrides_the_default(mixed: Settings, tmp_path: Path) -> None:
    frame = unlabelled(1500, 8)
    frame["tenure_months"] = (frame["tenure_months"] + 60).clip(upper=240)
    objectives = mixed.objectives.model_copy(update=dict(drift_thresholds={"tenure_months": 5.0}))
    settings = with_drift(mixed, tmp_path).model_copy(update={"objectives": objectives})
    summary = check_drift(settings, current_file(tmp_path, frame)).summary
    assert summary["features"]["tenure_months"]["threshold"] == 5.0
    assert summary["drifted_features"] == []


def test_the_summary_and_report_describe_the_run(mixed: Settings, tmp_path: Path) -> None:
    frame = holdout(mixed, MIXED)
    frame.insert(0, "timestamp", pd.date_range("2026-03-01", periods=len(frame), freq="min", tz="UTC"))
    frame["customer_id"] = range(len(frame))
    frame.loc[:4, "tenure_months"] = 300.0  # above the contract's max of 240
    frame.loc[:2, "plan"] = "enterprise"  # not one of its categories
    frame.loc[5:11, "plan"] = None
    missing = int(frame["plan"].isna().sum())  # the synthetic data leaves some out too (plan is nullable)
    (tmp_path / "drift" / ".run-killed").mkdir(parents=True)  # what a killed run leaves: nobody holds its lock
    (tmp_path / "drift" / ".run-killed" / "report.html").write_text("half a report")
    (tmp_path / "drift" / ".run-live").mkdir()
    live = os.open(tmp_path / "drift" / ".run-live", os.O_RDONLY)
    fcntl.flock(live, fcntl.LOCK_EX)  # as a run still writing holds it
    try:
        result = check_drift(with_drift(mixed, tmp_path / "drift"), current_file(tmp_path, frame, "labelled.csv"))
    finally:
        os.close(live)
    assert sorted(path.name for path in (tmp_path / "drift").glob(".run-*")) == [".run-live"]
    (tmp_path / "drift" / ".run-live").rmdir()
    summary = json.loads((result.folder / "summary.json").read_text())
    assert summary == json.loads(json.dumps(result.summary, default=str))
    assert summary["model_version"] == str(registry.get_model(mixed).tag)
    assert summary["current"] | {"source": None} == {
        "source": None,
        "files": 1,
        "rows": 1200,
        "sampled_rows": 1200,
        "excluded_rows": 0,
        "window": {"start": "2026-03-01T00:00:00+00:00", "end": "2026-03-01T19:59:00+00:00"},
    }
    assert summary["reference"] == {"rows": 2000, "sampled_rows": 2000}
    assert summary["data_quality"] == {
        "tenure_months": {"missing": 0, "outside": 5},
        "plan": {"missing": missing, "outside": 3},
    }
    assert summary["task"] == "classification"
    assert set(summary["quality"]["metrics"]) == set(TASK_METRICS["classification"])
    assert summary["quality"]["objectives"] == {
        "min_roc_auc": 0.8,
        "min_accuracy": 0.7,
        "min_f1": 0.6,
        "min_precision": 0.6,
        "min_recall": 0.6,
    }
    assert summary["quality"]["failures"] == []
    assert (result.folder / "report.html").stat().st_size > 100_000
    latest = tmp_path / "drift" / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == result.folder.resolve()
    assert not list((tmp_path / "drift").glob(".run-*"))


@pytest.mark.slow  # 30,000 rows, each checked twice
@pytest.mark.parametrize("shift", [0.0, 40.0])
def test_verdicts_on_a_sample_agree_with_the_full_data(mixed: Settings, tmp_path: Path, shift: float) -> None:
    frame = unlabelled(30_000, 11)
    frame["tenure_months"] = (frame["tenure_months"] + shift).clip(upper=240)
    path = current_file(tmp_path, frame)
    full = check_drift(with_drift(mixed, tmp_path, max_rows=50_000), path).summary
    sampled = check_drift(with_drift(mixed, tmp_path, max_rows=1000), path).summary
    assert (full["current"]["sampled_rows"], sampled["current"]["sampled_rows"]) == (30_000, 1000)
    assert sampled["drifted_features"] == full["drifted_features"] == (["tenure_months"] if shift else [])


def _no_reference_model(settings: Settings) -> str:
    """A version of the model saved without the reference sample (e.g. by hand), under a name of its own."""
    stored = registry.get_model(settings)
    saved = bentoml.sklearn.save_model(
        f"{settings.model_name}-no-reference", registry.load_entry(stored).pipeline, metadata=dict(stored.info.metadata)
    )
    return str(saved.tag)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nothing-here", "not found. Serve the model and send it requests"),
        (lambda d: write(d / "empty.jsonl", ""), "no rows: nothing to compare"),
        (lambda d: current_file(d, unlabelled(50, 1).drop(columns="plan")), r"missing relative to the data contract"),
        (lambda d: write(d / "x.parquet", "not parquet"), "cannot be read as parquet"),
        (
            lambda d: write(d / "p.jsonl", '{"tenure_months": 1, "plan": "pro", "extra": 1}\n'),
            r"columns not in the data contract: \['extra'\]",
        ),
        (
            lambda d: current_file(d, unlabelled(1, 1)),
            r"current\.parquet: 1 current rows, fewer than drift\.min_rows \(100\): too few for a drift test",
        ),
        (
            lambda d: current_file(d, unlabelled(150, 1).assign(tenure_months=lambda f: f["tenure_months"] > 100)),
            r"tenure_months: must be a number, not true/false \(a boolean column\) \(150 rows\)",
        ),
        (
            lambda d: current_file(
                d, unlabelled(150, 1).assign(tenure_months=lambda f: f["tenure_months"].astype(str))
            ),
            r"tenure_months: must be a number, not text \(store the column as numbers\) \(150 rows\)",
        ),
        (
            lambda d: current_file(
                d, unlabelled(150, 1).assign(tenure_months=lambda f: f["tenure_months"].mask(f.index < 7))
            ),
            r"the rows a drift test cannot compare\) breaks the data contract \(1 problems\):\n"
            r"  - tenure_months: must not be null \(7 rows\)",
        ),
    ],
    ids=["missing", "empty", "missing-column", "unreadable", "extra-log-column", "one-row", "bool", "text", "nulls"],
)
def test_bad_current_data_is_refused_and_writes_nothing(
    mixed: Settings, tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    reports = tmp_path / "drift"
    with pytest.raises(ProjectError, match=message) as caught:
        check_drift(with_drift(mixed, reports), make(tmp_path))
    assert caught.value.exit_code == 2
    assert not reports.exists()


def test_fewer_rows_than_drift_min_rows_are_refused_on_either_side(mixed: Settings, tmp_path: Path) -> None:
    current = current_file(tmp_path, unlabelled(120, 2))
    with pytest.raises(ProjectError, match=r"120 current rows, fewer than drift\.min_rows \(121\)") as caught:
        check_drift(with_drift(mixed, tmp_path / "drift", min_rows=121), current)
    assert caught.value.exit_code == 2
    current = current_file(tmp_path, unlabelled(2001, 2))
    with pytest.raises(ProjectError, match=r"reference sample holds 2000 rows, fewer than drift\.min_rows \(2001\)"):
        check_drift(with_drift(mixed, tmp_path / "drift", min_rows=2001, max_rows=5000), current)
    assert not (tmp_path / "drift").exists()


def test_a_version_without_reference_or_an_unknown_threshold_is_refused(mixed: Settings, tmp_path: Path) -> None:
    reports, current = tmp_path / "drift", current_file(tmp_path, unlabelled(50, 1))
    with pytest.raises(ProjectError, match="has no reference sample") as caught:
        check_drift(with_drift(mixed, reports), current, _no_reference_model(mixed))
    assert caught.value.exit_code == 2
    objectives = mixed.objectives.model_copy(update=dict(drift_thresholds={"no_such_feature": 0.1}))
    with pytest.raises(ProjectError, match=r"drift_thresholds: \['no_such_feature'\] are not features"):
        check_drift(with_drift(mixed, reports).model_copy(update={"objectives": objectives}), current)
    assert not reports.exists()


# -- regression and multi-class models ------------------------------------------------------


def test_a_regression_prediction_drifts_as_a_number(regression_model: tuple[Settings, str], tmp_path: Path) -> None:
    """Moving the first feature, which drives the target, moves the predicted values with it."""
    settings, tag = regression_model
    frame = synthetic_frame(REGRESSION, 500, seed=31).drop(columns=REGRESSION.target.name)
    low, high = span(REGRESSION.numeric[0].min, REGRESSION.numeric[0].max)
    first = REGRESSION.feature_names[0]
    frame[first] = (low + high) / 2 + (frame[first] - low) / 2  # the upper half of its range
    summary = check_drift(with_drift(settings, tmp_path), current_file(tmp_path, frame)).summary
    assert (summary["task"], summary["model_version"], summary["quality"]) == ("regression", tag, None)
    assert first in summary["drifted_features"]
    assert summary["prediction"]["drifted"] is True
    numeric = {summary["features"][feature.name]["method"] for feature in REGRESSION.numeric}
    categorical = {summary["features"][feature.name]["method"] for feature in REGRESSION.categorical}
    assert summary["prediction"]["method"] in numeric - categorical  # tested as a number, not as categories


def test_labelled_regression_data_is_scored_against_the_objectives(
    regression_model: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, tag = regression_model
    frame = holdout(settings, REGRESSION)
    objectives = Objectives(max_rmse=0.001, max_mae=1000, min_r2=0.5)  # no model is that close: rmse fails
    settings = with_drift(settings, tmp_path).model_copy(update={"objectives": objectives})
    result = check_drift(settings, current_file(tmp_path, frame))
    quality = result.summary["quality"]
    assert result.summary["prediction"]["drifted"] is False
    model = registry.load(settings, tag)
    predicted = model.predict_frame(REGRESSION.coerce_features(frame)).values
    truth = frame[REGRESSION.target.name]
    assert quality["metrics"] == pytest.approx(
        {
            "rmse": root_mean_squared_error(truth, predicted),
            "mae": mean_absolute_error(truth, predicted),
            "r2": r2_score(truth, predicted),
        },
        abs=1e-6,
    )
    assert quality["metrics"]["r2"] > 0.5
    assert quality["objectives"] == {"max_rmse": 0.001, "max_mae": 1000.0, "min_r2": 0.5}
    rmse = quality["metrics"]["rmse"]
    assert quality["failures"] == [f"rmse = {rmse:.4f} is above the ceiling objectives.max_rmse = 0.001"]
    assert result.failures == quality["failures"]  # no feature drifted: the only failure is the quality one


def test_labelled_multiclass_data_is_scored_against_the_objectives(
    multiclass_model: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, tag = multiclass_model
    frame = holdout(settings, MULTICLASS)
    objectives = Objectives(min_accuracy=0.999, min_f1=0.5, min_precision=0.5, min_recall=0.5, min_roc_auc=0.5)
    settings = with_drift(settings, tmp_path).model_copy(update={"objectives": objectives})
    result = check_drift(settings, current_file(tmp_path, frame))
    summary = result.summary
    assert (summary["task"], summary["model_version"]) == ("classification", tag)
    quality = summary["quality"]
    assert set(quality["metrics"]) == set(TASK_METRICS["classification"])
    model = registry.load(settings, tag)
    predicted = model.predict_frame(MULTICLASS.coerce_features(frame)).values
    accuracy = accuracy_score(frame[MULTICLASS.target.name], predicted)
    assert quality["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert 0.5 < accuracy < 0.999
    assert quality["metrics"]["f1"] > 0.5
    assert quality["metrics"]["roc_auc"] > 0.5  # one-vs-rest: defined for three classes too
    assert quality["failures"] == [f"accuracy = {accuracy:.4f} is below the floor objectives.min_accuracy = 0.999"]


# -- the closed loop on the project's own contract -------------------------------------------


def shifted(frame: pd.DataFrame, contract: Contract, share: float) -> tuple[pd.DataFrame, list[str]]:
    """More than ``share`` of the features moved: numbers into the top half of their range, first; then, if
    there are too few numeric features, categories collapsed onto one. Every value stays within the contract."""
    count = math.floor(share * len(contract.features)) + 1
    ordered: list[NumericFeature | CategoricalFeature] = [*contract.numeric]
    chosen = [*ordered, *contract.categorical][:count]
    moved = frame.copy()
    for feature in chosen:
        if isinstance(feature, NumericFeature):
            low, high = span(feature.min, feature.max)
            moved[feature.name] = (low + high) / 2 + (frame[feature.name] - low) / 2
        else:
            moved[feature.name] = moved[feature.name].where(moved[feature.name].isna(), feature.categories[0])
    return moved, [feature.name for feature in chosen]


@pytest.mark.slow  # every reference row sent to the service twice, then two drift reports
def test_serve_log_drift_closes_the_loop(
    trained: tuple[Settings, str], service_module: ModuleType, contract: Contract, tmp_path: Path
) -> None:
    """Requests of the reference rows pass; the same requests with features shifted are flagged.

    The reference itself, not a fresh sample: an independent sample of the same distribution fails each
    p-value test 5% of the time, which on a contract of two or three features is a drift share over 0.3.
    """
    settings, tag = trained
    settings = with_drift(settings, tmp_path / "drift")
    requests = registry.load(settings, tag).reference
    moved, names = shifted(requests, contract, settings.objectives.max_drift_share)
    service = service_module.Predictor()

    async def send(frame: pd.DataFrame) -> None:
        records = [service_module.Record.model_validate(record) for record in records_of(frame, contract)]
        await asyncio.gather(*(service.predict(record) for record in records))

    summaries = []
    for name, rows in (("same", requests), ("shifted", moved)):
        service.prediction_log.close()
        service.prediction_log = PredictionLog(tmp_path / name, on_failure=lambda reason: None)
        asyncio.run(send(rows))
        service.prediction_log.close()
        summaries.append(check_drift(settings, tmp_path / name).summary)
    passed, flagged = summaries
    assert passed["model_version"] == flagged["model_version"] == tag
    assert passed["task"] == flagged["task"] == contract.task
    assert passed["current"]["rows"] == flagged["current"]["rows"] == len(requests)
    assert passed["quality"] is flagged["quality"] is None  # the log holds no labels
    assert passed["drifted_features"] == []
    assert passed["prediction"]["drifted"] is False
    assert flagged["drift_detected"] is True
    assert set(names) <= set(flagged["drifted_features"])
