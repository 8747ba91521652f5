"""Champion against challenger: both models scored on the same labelled rows, with a paired bootstrap.

The primary metric (the first metric objective set) is computed for both models on the same
resampled rows, ``resamples`` times (seeded), so the interval of their difference reflects what
these rows can tell apart. The challenger wins when the lower end of the 95% interval of its gain
is at least ``-objectives.challenger_margin`` (it is not worse beyond the margin) and it meets every
metric objective on these rows. The metrics are vectorised over the resamples (a test checks them
against ``evaluation.score`` on the full rows): each model predicts once, and 2000 resamples of a few
thousand rows take well under a second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from .data import atomic_write, file_sha256, read_table
from .errors import DataError, ProjectError
from .evaluation import check_objectives
from .model import Model, Predictions
from .settings import TASK_METRICS, Limit, Settings, TrainingSettings
from .train import split

CONFIDENCE = 0.95
MIN_ROWS = 30  # fewer labelled rows cannot tell two models apart
SUMMARY_NAME = "compare.json"  # in reports_dir


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Numerator / denominator, 0 where the denominator is 0 (scikit-learn's ``zero_division=0``)."""
    safe = np.where(denominator == 0, 1, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def _auc(positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of a (resamples x rows) matrix, from average ranks; NaN where a class is absent."""
    ranks = rankdata(scores, axis=1)
    positives = positive.sum(axis=1)
    negatives = positive.shape[1] - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * positive).sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives == 0) | (negatives == 0), np.nan, auc)


def _counts(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    true_positive = (truth & predicted).sum(axis=1)
    return true_positive, (~truth & predicted).sum(axis=1), (truth & ~predicted).sum(axis=1)


def _binary(name: str, truth: np.ndarray, predicted: np.ndarray, scores: np.ndarray) -> np.ndarray:
    if name == "roc_auc":
        return _auc(truth, scores)
    true_positive, false_positive, false_negative = _counts(truth, predicted)
    if name == "precision":
        return _ratio(true_positive, true_positive + false_positive)
    if name == "recall":
        return _ratio(true_positive, true_positive + false_negative)
    return _ratio(2 * true_positive, 2 * true_positive + false_positive + false_negative)  # f1


def classification_metric(
    name: str, model: Model, predictions: Predictions, labels: pd.Series, rows: np.ndarray
) -> np.ndarray:
    """One classification metric per row of ``rows`` (resamples x row indices), as ``evaluation.score`` defines it.

    Binary targets are scored for the positive class, several classes by macro averages (ROC AUC
    one-vs-rest); a resample lacking a class has no ROC AUC (NaN).
    """
    classes = model.classes
    code = {label: index for index, label in enumerate(classes)}
    truth = np.array([code.get(label, -1) for label in labels])[rows]
    predicted = np.array([code[label] for label in predictions.values])[rows]
    if name == "accuracy":
        return np.asarray((truth == predicted).mean(axis=1), dtype=np.float64)
    assert predictions.probabilities is not None  # noqa: S101 (classification always has them)
    if model.positive_class is not None:
        positive = code[model.positive_class]
        scores = predictions.probabilities[:, positive][rows]
        return _binary(name, truth == positive, predicted == positive, scores)
    per_class = [
        _binary(name, truth == index, predicted == index, predictions.probabilities[:, index][rows])
        for index in range(len(classes))
    ]
    return np.asarray(np.mean(per_class, axis=0), dtype=np.float64)


def regression_metric(name: str, predictions: Predictions, values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """RMSE, MAE or R² per row of ``rows`` (R² is NaN where the resampled targets are all equal)."""
    truth = values.to_numpy(dtype=np.float64)[rows]
    error = truth - np.asarray(predictions.values, dtype=np.float64)[rows]
    if name == "rmse":
        return np.asarray(np.sqrt((error**2).mean(axis=1)), dtype=np.float64)
    if name == "mae":
        return np.asarray(np.abs(error).mean(axis=1), dtype=np.float64)
    spread = ((truth - truth.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread == 0, np.nan, 1 - (error**2).sum(axis=1) / spread)


def metric_samples(
    name: str, model: Model, predictions: Predictions, labels: pd.Series, rows: np.ndarray
) -> np.ndarray:
    """The metric ``name`` of ``model``'s predictions on each resample (row of ``rows``)."""
    if model.task == "regression":
        return regression_metric(name, predictions, labels, rows)
    return classification_metric(name, model, predictions, labels, rows)


@dataclass(frozen=True)
class Comparison:
    """The summary written to reports/compare.json, and why the challenger lost (empty: it won)."""

    summary: dict[str, Any]
    path: Path
    failures: list[str]


@dataclass(frozen=True)
class Rows:
    """The labelled rows both models are scored on, as each model's contract reads them."""

    champion: pd.DataFrame
    challenger: pd.DataFrame
    labels: pd.Series
    scope: str


def labelled_rows(champion: Model, challenger: Model, path: Path) -> Rows:
    """The rows of ``path``; only the challenger's hold-out rows when it is the challenger's training file.

    Scoring the challenger on rows it was fitted on would favour it; on the same file (same SHA-256)
    its own seeded split gives back the rows it never saw, as ``evaluate`` does.
    """
    table = read_table(path)
    frame = challenger.contract.validate_frame(table, source=str(path), with_target=True)
    scope = "all rows"
    if file_sha256(path) == challenger.labels.get("data_sha256"):
        training = TrainingSettings.model_validate(challenger.metadata["params"])
        frame = frame.loc[split(frame, challenger.contract, training).test.index]
        scope = "hold-out rows of the challenger's training split"
    other = champion.contract.validate_frame(table, source=str(path), with_target=True).loc[frame.index]
    return Rows(
        other[champion.contract.feature_names],
        frame[challenger.contract.feature_names],
        frame[challenger.contract.target.name],
        scope,
    )


def _gain(limit: Limit, champion: np.ndarray, challenger: np.ndarray) -> np.ndarray:
    """How much better the challenger is: higher for a floor (``min_``), lower for a ceiling (``max_``)."""
    gain: np.ndarray = challenger - champion if limit.bound == "min" else champion - challenger
    return gain


@dataclass(frozen=True)
class Scored:
    """One model on the rows: the primary metric on all of them and on each resample, and every metric."""

    tag: str
    point: float
    samples: np.ndarray
    metrics: dict[str, float]

    @classmethod
    def of(cls, model: Model, features: pd.DataFrame, labels: pd.Series, metric: str, rows: np.ndarray) -> Scored:
        """Predict once; every metric comes from the same predictions, the resamples index them."""
        predictions = model.predict_frame(features)
        everything = np.arange(len(labels))[np.newaxis, :]
        metrics = {
            name: round(float(metric_samples(name, model, predictions, labels, everything)[0]), 6)
            for name in TASK_METRICS[model.task]
        }
        return cls(model.tag, metrics[metric], metric_samples(metric, model, predictions, labels, rows), metrics)

    def as_json(self, metric: str) -> dict[str, Any]:
        """The summary's entry."""
        return {"tag": self.tag, metric: self.point, "metrics": self.metrics}


def compare(
    settings: Settings, champion: Model, challenger: Model, data_path: Path, *, resamples: int, seed: int
) -> Comparison:
    """Score both models on the rows of ``data_path``, bootstrap the primary metric's difference, decide."""
    if champion.tag == challenger.tag:
        raise ProjectError(f"--champion and --challenger are the same version ({champion.tag}): name two versions")
    if champion.task != challenger.task:
        raise ProjectError(f"{champion.tag} is {champion.task} and {challenger.tag} {challenger.task}: not comparable")
    primary = settings.objectives.primary(challenger.task)
    data = labelled_rows(champion, challenger, data_path)
    labels = data.labels
    if len(labels) < MIN_ROWS:
        raise DataError(f"{data_path}: {len(labels)} labelled rows ({data.scope}); compare needs at least {MIN_ROWS}")
    rows = np.random.default_rng(seed).integers(0, len(labels), size=(resamples, len(labels)))
    old = Scored.of(champion, data.champion, labels, primary.metric, rows)
    new = Scored.of(challenger, data.challenger, labels, primary.metric, rows)
    gains = _gain(primary, old.samples, new.samples)
    gains = gains[~np.isnan(gains)]
    if len(gains) < resamples / 2:
        raise DataError(f"{data_path}: {primary.metric} is undefined on most resamples (too few rows of a class)")
    low, high = (float(end) for end in np.quantile(gains, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2]))
    point = float(_gain(primary, np.array(old.point), np.array(new.point)))
    margin = settings.objectives.challenger_margin
    gate = check_objectives(new.metrics, settings.objectives.limits_for(challenger.task))
    reasons = [f"{challenger.tag} misses an objective on these rows: {line}" for line in gate.failures]
    if low < -margin:
        reasons.insert(
            0,
            f"{primary.metric}: the challenger's gain is {point:+.4f}, 95% interval [{low:+.4f}, {high:+.4f}]; "
            f"its lower end is below -objectives.challenger_margin = {-margin:g} (it may be worse than the champion)",
        )
    summary = {
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {"path": str(data_path), "sha256": file_sha256(data_path), "rows": len(labels), "scope": data.scope},
        "metric": primary.metric,
        "higher_is_better": primary.bound == "min",
        "champion": old.as_json(primary.metric),
        "challenger": new.as_json(primary.metric) | {"objectives_met": gate.passed},
        "gain": {
            "point": round(point, 6),
            "low": round(low, 6),
            "high": round(high, 6),
            "confidence": CONFIDENCE,
            "resamples": resamples,
            "defined_resamples": len(gains),
            "seed": seed,
        },
        "margin": margin,
        "winner": "champion" if reasons else "challenger",
        "reasons": reasons,
    }
    path = settings.resolve(settings.reports_dir) / SUMMARY_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return Comparison(summary, path, reasons)
