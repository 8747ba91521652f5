"""Hold-out metrics and the quality gate that compares them with the declared objectives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline

from .contract import Target
from .settings import Objectives


def score(model: Pipeline, features: pd.DataFrame, labels: pd.Series, target: Target) -> dict[str, float]:
    """Accuracy, ROC AUC, F1, precision and recall of ``model`` on labelled rows.

    Binary targets are scored for the positive class (the contract's ``positive_class``,
    else the last class); multi-class targets use macro averages and one-vs-rest AUC.
    """
    predicted = model.predict(features)
    probabilities = model.predict_proba(features)
    classes = list(model.classes_)
    if len(classes) == 2:
        positive = target.positive_class if target.positive_class is not None else classes[-1]
        average: dict[str, object] = {"average": "binary", "pos_label": positive}
        auc = roc_auc_score(labels == positive, probabilities[:, classes.index(positive)])
    else:
        average = {"average": "macro"}
        auc = roc_auc_score(labels, probabilities, multi_class="ovr", labels=classes)
    metrics = {
        "accuracy": accuracy_score(labels, predicted),
        "roc_auc": auc,
        "f1": f1_score(labels, predicted, zero_division=0, **average),
        "precision": precision_score(labels, predicted, zero_division=0, **average),
        "recall": recall_score(labels, predicted, zero_division=0, **average),
    }
    return {name: round(float(np.asarray(value)), 6) for name, value in metrics.items()}


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict: one line per objective that was missed."""

    failures: list[str]

    @property
    def passed(self) -> bool:
        """True when every objective is met."""
        return not self.failures


def check_objectives(metrics: dict[str, float], objectives: Objectives) -> GateResult:
    """Compare each measured metric with its floor from the objectives."""
    return GateResult(
        [
            f"{metric} = {metrics[metric]:.4f} is below the floor objectives.min_{metric} = {floor}"
            for metric, floor in objectives.floors().items()
            if metrics[metric] < floor
        ]
    )
