"""The drift check on a synthetic mixed-type contract, its refusals, and the closed serve -> log -> drift loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import bentoml
import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import write_table
from {{ cookiecutter.package }}.drift import check_drift
from {{ cookiecutter.package }}.errors import ProjectError
from {{ cookiecutter.package }}.prediction_log import PredictionLog
from {{ cookiecutter.package }}.settings import Objectives, Settings
from {{ cookiecutter.package }}.train import split, train

from .support import MIXED, mixed_frame, settings_in


def with_drift(settings: Settings, folder: Path, **changes: object) -> Settings:
    """Settings whose drift reports go to ``folder``, with other drift settings changed."""
    drift = settings.drift.model_copy(update={"reports_dir": folder} | changes)
    return settings.model_copy(update={"drift": drift})


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A model of the mixed contract, its reference large enough for distance-based drift methods."""
    settings = settings_in(tmp_path_factory.mktemp("mixed"), model_name="drift-mixed")
    settings = settings.model_copy(
        update={
            "objectives": Objectives(min_roc_auc=0.8, max_drift_share=0.3),
            "training": settings.training.model_copy(update={"reference_rows": 2000}),
        }
    )
    write_table(mixed_frame(3000), settings.data_path)
    train(settings, MIXED)
    return settings


def current_file(folder: Path, frame: pd.DataFrame, name: str = "current.parquet") -> Path:
    path = folder / name
    write_table(frame, path)
    return path


def unlabelled(rows: int, seed: int) -> pd.DataFrame:
    return mixed_frame(rows, seed).drop(columns="churned")


def test_an_independent_sample_of_the_same_distribution_does_not_drift(mixed: Settings, tmp_path: Path) -> None:
    summary = check_drift(with_drift(mixed, tmp_path), current_file(tmp_path, unlabelled(1500, 7))).summary
    assert summary["drift_detected"] is False
    assert summary["drifted_features"] == []
    assert summary["prediction"]["drifted"] is False
    assert summary["quality"] is None


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
    frame = mixed_frame(1200, 10)
    frame.insert(0, "timestamp", pd.date_range("2026-03-01", periods=len(frame), freq="min", tz="UTC"))
    frame["customer_id"] = range(len(frame))
    frame.loc[:4, "tenure_months"] = 300.0  # above the contract's max of 240
    frame.loc[:2, "plan"] = "enterprise"  # not one of its categories
    frame.loc[5:11, "plan"] = None
    result = check_drift(with_drift(mixed, tmp_path / "drift"), current_file(tmp_path, frame, "labelled.csv"))
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
        "plan": {"missing": 7, "outside": 3},
    }
    assert set(summary["quality"]["metrics"]) == {"accuracy", "roc_auc", "f1", "precision", "recall"}
    assert summary["quality"]["floors"] == {"roc_auc": 0.8}
    assert (result.folder / "report.html").stat().st_size > 100_000
    latest = tmp_path / "drift" / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == result.folder.resolve()
    assert not list((tmp_path / "drift").glob(".run-*"))


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
    """A version of the model saved without the reference sample (e.g. by hand)."""
    stored = registry.get_model(settings)
    saved = bentoml.sklearn.save_model(
        settings.model_name, registry.load_pipeline(stored), metadata=dict(stored.info.metadata)
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
    ],
    ids=["missing", "empty", "missing-column", "unreadable", "extra-log-column"],
)
def test_bad_current_data_is_refused_and_writes_nothing(
    mixed: Settings, tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    reports = tmp_path / "drift"
    with pytest.raises(ProjectError, match=message) as caught:
        check_drift(with_drift(mixed, reports), make(tmp_path))
    assert caught.value.exit_code == 2
    assert not reports.exists()


def test_a_version_without_reference_or_an_unknown_threshold_is_refused(mixed: Settings, tmp_path: Path) -> None:
    reports, current = tmp_path / "drift", current_file(tmp_path, unlabelled(50, 1))
    with pytest.raises(ProjectError, match="has no reference sample") as caught:
        check_drift(with_drift(mixed, reports), current, _no_reference_model(mixed))
    assert caught.value.exit_code == 2
    objectives = mixed.objectives.model_copy(update=dict(drift_thresholds={"age": 0.1}))
    with pytest.raises(ProjectError, match=r"drift_thresholds: \['age'\] are not features"):
        check_drift(with_drift(mixed, reports).model_copy(update={"objectives": objectives}), current)
    assert not reports.exists()


def test_serve_log_drift_closes_the_loop(
    trained: tuple[Settings, str],
    service_module: ModuleType,
    contract: Contract,
    breast_cancer: pd.DataFrame,
    tmp_path: Path,
) -> None:
    """Requests drawn from the hold-out rows pass; the same rows with 12 features scaled are flagged."""
    settings, tag = trained
    settings = with_drift(settings, tmp_path / "drift")
    holdout = split(breast_cancer, contract, settings.training).test
    requests = holdout.sample(n=300, replace=True, random_state=3).reset_index(drop=True)
    shifted_features = contract.feature_names[:12]
    shifted = requests.assign(**{name: requests[name] * 1.5 for name in shifted_features})
    service = service_module.Predictor()

    async def send(frame: pd.DataFrame) -> None:
        records = [service_module.Record.model_validate(record) for record in frame.to_dict("records")]
        await asyncio.gather(*(service.predict(record) for record in records))

    summaries = []
    for name, rows in (("holdout", requests), ("shifted", shifted)):
        service.prediction_log.close()
        service.prediction_log = PredictionLog(tmp_path / name, on_failure=lambda reason: None)
        asyncio.run(send(rows))
        service.prediction_log.close()
        summaries.append(check_drift(settings, tmp_path / name).summary)
    passed, flagged = summaries
    assert passed["model_version"] == flagged["model_version"] == tag
    assert passed["current"]["rows"] == flagged["current"]["rows"] == 300
    assert passed["drift_detected"] is False
    assert flagged["drift_detected"] is True
    assert set(shifted_features) <= set(flagged["drifted_features"])
