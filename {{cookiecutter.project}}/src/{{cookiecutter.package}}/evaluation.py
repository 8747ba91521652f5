"""Metrics of a model on labelled rows, and the quality gate that compares them with the objectives."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from .model import Model, Predictions
from .settings import Limit


def _classification(model: Model, predictions: Predictions, labels: pd.Series) -> dict[str, object]:
    """Accuracy, ROC AUC, F1, precision and recall; binary for the positive class, else macro averages."""
    predicted, classes = predictions.values, model.classes
    probabilities = predictions.probabilities if predictions.probabilities is not None else np.empty((0, len(classes)))
    positive = model.positive_class
    if positive is not None:
        average: dict[str, object] = {"average": "binary", "pos_label": positive}
        both = labels.nunique() == 2
        auc = roc_auc_score(labels == positive, probabilities[:, classes.index(positive)]) if both else math.nan
    else:
        average = {"average": "macro", "labels": classes}
        present = set(labels) == set(classes)
        auc = roc_auc_score(labels, probabilities, multi_class="ovr", labels=classes) if present else math.nan
    return {
        "accuracy": accuracy_score(labels, predicted),
        "roc_auc": auc,
        "f1": f1_score(labels, predicted, zero_division=0, **average),
        "precision": precision_score(labels, predicted, zero_division=0, **average),
        "recall": recall_score(labels, predicted, zero_division=0, **average),
    }


def _regression(predictions: Predictions, values: pd.Series) -> dict[str, object]:
    """RMSE, MAE and R² (R² is undefined on fewer than two rows)."""
    predicted = np.asarray(predictions.values, dtype=np.float64)
    return {
        "rmse": root_mean_squared_error(values, predicted),
        "mae": mean_absolute_error(values, predicted),
        "r2": r2_score(values, predicted) if len(values) >= 2 else math.nan,
    }


def score(model: Model, features: pd.DataFrame, labels: pd.Series) -> dict[str, float]:
    """The task's metrics of ``model`` on labelled rows; a metric the rows cannot define is NaN."""
    predictions = model.predict_frame(features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # undefined metrics become NaN below
        if model.task == "regression":
            metrics = _regression(predictions, labels)
        else:
            metrics = _classification(model, predictions, labels)
    return {name: round(float(np.asarray(value)), 6) for name, value in metrics.items()}


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict: one line per objective that was missed."""

    failures: list[str]

    @property
    def passed(self) -> bool:
        """True when every objective is met."""
        return not self.failures


def check_objectives(metrics: dict[str, float], limits: list[Limit]) -> GateResult:
    """Compare each measured metric with its objective; a missing or NaN metric misses it."""
    return GateResult(
        [limit.miss(metrics.get(limit.metric)) for limit in limits if not limit.met(metrics.get(limit.metric))]
    )
