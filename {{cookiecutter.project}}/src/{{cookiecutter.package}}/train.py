"""Training and evaluation: validate the data, split, fit, score, gate, and register what passes."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import InvalidParameterError

from . import onnx_graph, progress, registry{% if cookiecutter.experiment_tracking == "mlflow" %}, tracking{% endif %}
from .contract import Contract
from .data import atomic_write, file_sha256, read_table
from .errors import ConfigError, DataError, GateFailedError
from .estimator import build_pipeline, estimator_path, make_estimator
from .evaluation import GateResult, check_objectives, score
from .model import Model
from .settings import Limit, Settings, TrainingSettings

if TYPE_CHECKING:
    from .plots import Plot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """Features and labels of the training and hold-out parts."""

    train: pd.DataFrame
    test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def min_class_rows(test_size: float) -> int:
    """Rows a class needs so that a stratified split puts at least one in each part."""
    # Rounded first: 1 / (1 - 0.9) is 10.000000000000002 in floating point.
    return max(2, math.ceil(round(1 / test_size, 9)), math.ceil(round(1 / (1 - test_size), 9)))


def _check_classes(labels: pd.Series, contract: Contract, training: TrainingSettings) -> None:
    """Every class seen must be able to land in both parts of the split; else a DataError with the fix."""
    name = contract.target.name
    counts = labels.value_counts()
    if len(counts) < 2:
        raise DataError(f"{name}: the training data holds a single class; a classifier needs two")
    needed = min_class_rows(training.test_size)
    rare = counts[counts < needed]
    if not rare.empty:
        listed = ", ".join(f"{label!r} has {count} rows" for label, count in rare.items())
        raise DataError(
            f"{name}: {listed}; each class needs at least {needed} rows to appear in both the training and the "
            f"hold-out part (training.test_size = {training.test_size}): add rows, merge or drop the class, "
            "or raise test_size"
        )


def split(frame: pd.DataFrame, contract: Contract, training: TrainingSettings) -> Split:
    """A seeded split, stratified by class for classification."""
    labels = frame[contract.target.name]
    stratify = None
    if contract.task == "classification":
        _check_classes(labels, contract, training)
        stratify = labels
    train, test, y_train, y_test = train_test_split(
        frame[contract.feature_names],
        labels,
        test_size=training.test_size,
        random_state=training.random_state,
        stratify=stratify,
    )
    return Split(train, test, y_train, y_test)


def load_training_table(path: Path, contract: Contract) -> pd.DataFrame:
    """Read a labelled table and hold it to the contract."""
    if not path.is_file():
        raise DataError(f"{path}: training data not found; run `make data` (data.source says where it comes from)")
    return contract.validate_frame(read_table(path), source=str(path), with_target=True)


def write_metrics(path: Path, report: dict[str, object]) -> None:
    """metrics.json, written atomically so CI never reads half a file."""
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _gate_or_raise(gate: GateResult, what: str) -> None:
    if not gate.passed:
        lines = "\n".join(f"  - {failure}" for failure in gate.failures)
        raise GateFailedError(f"quality gate failed: {what}\n{lines}")


def fit(settings: Settings, contract: Contract, parts: Split) -> Model:
    """Fit the configured estimator in its pipeline on the training part (not yet registered)."""
    pipeline = build_pipeline(contract, make_estimator(settings.training, contract.task))
    unregistered = Model(f"{settings.model_name}:unregistered", contract, pipeline, parts.train.head(0))
    try:
        pipeline.fit(unregistered.frame_matrix(parts.train), contract.coerce_target(parts.y_train).to_numpy())
    except InvalidParameterError as exc:
        raise ConfigError(f"training.params: {exc}") from None
    return unregistered


def train(settings: Settings, contract: Contract) -> str:
    """Train, evaluate on the hold-out set, write metrics.json, gate, register; returns the tag."""
    path = settings.data_path
    limits = settings.objectives.limits_for(contract.task)
    make_estimator(settings.training, contract.task)  # bad settings fail before the data is read
    with progress.phase(f"train: reading and checking {path.name}"):
        frame = load_training_table(path, contract)
        data_sha256 = file_sha256(path)
    parts = split(frame, contract, settings.training)
    with progress.phase(
        f"train: fitting {estimator_path(settings.training, contract.task)} on {len(parts.train):,} rows"
    ):
        model = fit(settings, contract, parts)
    with progress.phase(f"train: scoring {len(parts.test):,} hold-out rows"):
        metrics = score(model, parts.test, parts.y_test)
    gate = check_objectives(metrics, limits)
    rows = {"train": len(parts.train), "test": len(parts.test)}
    report = {
        "model_name": settings.model_name,
        "task": contract.task,
        "estimator": estimator_path(settings.training, contract.task),
        "metrics": metrics,
        "objectives": settings.objectives.declared(),
        "passed": gate.passed,
        "failures": gate.failures,
        "data_sha256": data_sha256,
        "rows": rows,
    }
    write_metrics(settings.metrics_path, report)
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    run_id = tracking.log_training(settings, report, gate, limits)  # before the gate: rejected runs are logged too
{%- endif %}
    _gate_or_raise(gate, f"the model was not registered (metrics: {settings.metrics_path})")
    reference = parts.train.assign(**{contract.target.name: parts.y_train})
    reference = reference.sample(
        n=min(len(reference), settings.training.reference_rows), random_state=settings.training.random_state
    )
    checked_rows = pd.concat([parts.test, reference[contract.feature_names]])
    with progress.phase("train: converting to ONNX and checking parity"):
        conversion = onnx_graph.build(model, model.frame_matrix(checked_rows))
    if conversion.graph is None:
        log.warning("registered without an ONNX graph (scikit-learn only): %s", conversion.reason)
    tag = registry.new_tag(settings)
    plots: list[Plot] = []
    if settings.training.plots:
        with progress.phase("train: drawing the hold-out plots"):
            from .plots import model_plots  # matplotlib: training only, never in the service image

            plots = model_plots(model, parts.test, parts.y_test, tag=tag, seed=settings.training.random_state)
    registry.register(
        settings,
        contract,
        model.pipeline,
        tag=tag,
        plots=plots,
        estimator=estimator_path(settings.training, contract.task),
        metrics=metrics,
        data_sha256=data_sha256,
        rows=rows | {"reference": len(reference)},
        reference=reference.reset_index(drop=True),
        conversion=conversion,
{%- if cookiecutter.experiment_tracking == "mlflow" %}
        mlflow_run_id=run_id,
{%- endif %}
    )
{%- if cookiecutter.experiment_tracking == "mlflow" %}
    tracking.link_model(settings, run_id, tag)
{%- endif %}
    return tag


@dataclass(frozen=True)
class Evaluation:
    """A stored model scored on labelled data."""

    tag: str
    rows: int
    scope: str
    metrics: dict[str, float]
    limits: list[Limit]
    gate: GateResult


def evaluate(settings: Settings, tag: str | None, data_path: Path | None) -> Evaluation:
    """Score a stored model on labelled data (held to the model's own contract) and gate it.

    On the very file the model was trained on (same SHA-256), only the hold-out rows of the
    model's own split are scored, which reproduces its training metrics; any other file is
    scored whole.
    """
    model = registry.load(settings, tag)
    contract = model.contract
    limits = settings.objectives.limits_for(contract.task)
    path = data_path or settings.data_path
    frame = load_training_table(path, contract)
    features, labels, scope = frame[contract.feature_names], frame[contract.target.name], "all rows"
    if file_sha256(path) == model.labels.get("data_sha256"):
        parts = split(frame, contract, TrainingSettings.model_validate(model.metadata["params"]))
        features, labels, scope = parts.test, parts.y_test, "hold-out rows of the training split"
    metrics = score(model, features, labels)
    return Evaluation(model.tag, len(features), scope, metrics, limits, check_objectives(metrics, limits))


def gate_evaluation(evaluation: Evaluation) -> None:
    """Raise GateFailedError when an evaluated model misses an objective."""
    _gate_or_raise(evaluation.gate, f"{evaluation.tag} misses the objectives")
