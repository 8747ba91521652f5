"""Training and evaluation: validate the data, split, fit, score, gate, and register what passes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from . import registry
from .contract import Contract
from .data import atomic_write, file_sha256, read_table
from .errors import DataError, GateFailedError
from .evaluation import GateResult, check_objectives, score
from .settings import ModelParams, Settings, TrainingSettings


def build_pipeline(contract: Contract, params: ModelParams, random_state: int) -> Pipeline:
    """Numeric features pass through; categorical ones are encoded with the contract's categories.

    Unknown and missing categories become NaN, which the gradient-boosting model handles natively.
    """
    categorical = contract.categorical
    encoder = OrdinalEncoder(
        categories=[feature.categories for feature in categorical],
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
    )
    preprocess = ColumnTransformer(
        [
            ("numeric", "passthrough", [feature.name for feature in contract.numeric]),
            ("categorical", encoder, [feature.name for feature in categorical]),
        ],
        verbose_feature_names_out=False,
    )
    mask = [False] * len(contract.numeric) + [True] * len(categorical)
    classifier = HistGradientBoostingClassifier(
        **params.model_dump(),
        categorical_features=mask if categorical else None,
        early_stopping=False,
        random_state=random_state,
    )
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


class RowEncoder:
    """Records (mappings) to the classifier's input, as build_pipeline's preprocessing makes it.

    Numeric features as floats, then categorical ones as their index in the contract's
    categories; missing or unknown values become NaN. The service encodes requests with it
    instead of building a DataFrame per request; a test holds the two equal.
    """

    def __init__(self, contract: Contract) -> None:
        self._numeric = [feature.name for feature in contract.numeric]
        self._categorical = [
            (feature.name, {category: float(i) for i, category in enumerate(feature.categories)})
            for feature in contract.categorical
        ]

    def __call__(self, rows: Sequence[Mapping[Any, Any]]) -> np.ndarray:
        """One row of float64 per record."""
        nan = float("nan")
        return np.array(
            [
                [nan if row[name] is None else row[name] for name in self._numeric]
                + [codes.get(row[name], nan) for name, codes in self._categorical]
                for row in rows
            ],
            dtype=np.float64,
        ).reshape(len(rows), len(self._numeric) + len(self._categorical))


@dataclass(frozen=True)
class Split:
    """Features and labels of the training and hold-out parts."""

    train: pd.DataFrame
    test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def split(frame: pd.DataFrame, contract: Contract, training: TrainingSettings) -> Split:
    """A seeded split, stratified by class when every class has at least two rows."""
    labels = frame[contract.target.name]
    if labels.nunique() < 2:
        raise DataError(f"{contract.target.name}: the training data holds a single class; a classifier needs two")
    stratify = labels if labels.value_counts().min() >= 2 else None
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
        raise DataError(f"{path}: training data not found; run `make data`, or set data.path to your own file")
    return contract.validate_frame(read_table(path), source=str(path), with_target=True)


def write_metrics(path: Path, report: dict[str, object]) -> None:
    """metrics.json, written atomically so CI never reads half a file."""
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _gate_or_raise(gate: GateResult, what: str) -> None:
    if not gate.passed:
        lines = "\n".join(f"  - {failure}" for failure in gate.failures)
        raise GateFailedError(f"quality gate failed: {what}\n{lines}")


def train(settings: Settings, contract: Contract) -> str:
    """Train, evaluate on the hold-out set, write metrics.json, gate, register; returns the tag."""
    path = settings.data_path
    frame = load_training_table(path, contract)
    data_sha256 = file_sha256(path)
    parts = split(frame, contract, settings.training)
    model = build_pipeline(contract, settings.training.params, settings.training.random_state)
    model.fit(parts.train, parts.y_train)
    metrics = score(model, parts.test, parts.y_test, contract.target)
    gate = check_objectives(metrics, settings.objectives)
    rows = {"train": len(parts.train), "test": len(parts.test)}
    write_metrics(
        settings.metrics_path,
        {
            "model_name": settings.model_name,
            "metrics": metrics,
            "objectives": settings.objectives.floors(),
            "passed": gate.passed,
            "failures": gate.failures,
            "data_sha256": data_sha256,
            "rows": rows,
        },
    )
    _gate_or_raise(gate, f"the model was not registered (metrics: {settings.metrics_path})")
    reference = parts.train.assign(**{contract.target.name: parts.y_train})
    reference = reference.sample(
        n=min(len(reference), settings.training.reference_rows), random_state=settings.training.random_state
    )
    return registry.register(
        settings,
        contract,
        model,
        metrics=metrics,
        data_sha256=data_sha256,
        rows=rows | {"reference": len(reference)},
        reference=reference.reset_index(drop=True),
    )


@dataclass(frozen=True)
class Evaluation:
    """A stored model scored on labelled data."""

    tag: str
    rows: int
    scope: str
    metrics: dict[str, float]
    gate: GateResult


def evaluate(settings: Settings, tag: str | None, data_path: Path | None) -> Evaluation:
    """Score a stored model on labelled data (held to the model's own contract) and gate it.

    On the very file the model was trained on (same SHA-256), only the hold-out rows of the
    model's own split are scored, which reproduces its training metrics; any other file is
    scored whole.
    """
    model = registry.get_model(settings, tag)
    contract = registry.model_contract(model)
    path = data_path or settings.data_path
    frame = load_training_table(path, contract)
    features, labels, scope = frame[contract.feature_names], frame[contract.target.name], "all rows"
    if file_sha256(path) == model.info.labels.get("data_sha256"):
        parts = split(frame, contract, TrainingSettings.model_validate(model.info.metadata["params"]))
        features, labels, scope = parts.test, parts.y_test, "hold-out rows of the training split"
    metrics = score(registry.load_pipeline(model), features, labels, contract.target)
    return Evaluation(str(model.tag), len(features), scope, metrics, check_objectives(metrics, settings.objectives))


def gate_evaluation(evaluation: Evaluation) -> None:
    """Raise GateFailedError when an evaluated model misses an objective."""
    _gate_or_raise(evaluation.gate, f"{evaluation.tag} misses the objectives")
