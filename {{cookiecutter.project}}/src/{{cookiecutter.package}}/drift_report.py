"""The Evidently report of a drift check, and the verdicts read back from it.

Evidently costs ~300 MB and seconds to import: only ``drift.check_drift`` imports this
module, never the service or the other commands. The report holds data drift per feature
and the share of drifted features, prediction drift, data quality against the contract
(missing values, values outside its ranges or categories), and, when the current data carries
labels, classification or regression quality tested against the objectives.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .contract import Contract, NumericFeature
from .model import PREDICTION
from .settings import Limit

with warnings.catch_warnings():
    # Evidently 0.7's descriptors/text_match.py holds an invalid escape sequence (in a docstring): the first
    # import after `make install` compiles it, and that warns (a SyntaxWarning from Python 3.12).
    # tests/test_upstream_patches.py fails once upstream fixes it, so this filter can go.
    warnings.filterwarnings("ignore", "invalid escape sequence", SyntaxWarning)
    warnings.filterwarnings("ignore", "invalid escape sequence", DeprecationWarning)  # Python 3.11's category
    from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Regression, Report
    from evidently.core.report import Snapshot
    from evidently.metrics import (
        MAE,
        RMSE,
        Accuracy,
        DriftedColumnsCount,
        F1Score,
        MissingValueCount,
        OutListValueCount,
        OutRangeValueCount,
        Precision,
        R2Score,
        Recall,
        RocAuc,
        ValueDrift,
    )
    from evidently.tests import eq, gte, lte

QUALITY_METRICS = {
    "accuracy": Accuracy,
    "f1": F1Score,
    "precision": Precision,
    "recall": Recall,
    "roc_auc": RocAuc,
    "rmse": RMSE,
    "mae": MAE,
    "r2": R2Score,
}


@dataclass(frozen=True)
class DriftChecks:
    """What the report checks and against which thresholds."""

    contract: Contract
    max_drift_share: float
    thresholds: dict[str, float] = field(default_factory=dict)  # feature -> drift threshold override
    limits: list[Limit] = field(default_factory=list)  # quality objectives, with labels only
    positive_class: Any = None  # binary: the class whose probability column is scored
    probability_columns: list[str] = field(default_factory=list)  # classification: one per class

    @property
    def regression(self) -> bool:
        """A numeric target: its prediction is a number, and quality is RMSE, MAE and R²."""
        return self.contract.task == "regression"


def data_definition(checks: DriftChecks, labelled: bool) -> DataDefinition:
    """Column roles from the contract: numeric, categorical, the prediction and, with labels, the target."""
    contract = checks.contract
    target = contract.target.name
    numerical = [f.name for f in contract.numeric] + checks.probability_columns
    categorical = [f.name for f in contract.categorical]
    if checks.regression:
        numerical += [PREDICTION, *([target] if labelled else [])]
        quality: dict[str, Any] = {
            "regression": [Regression(target=target, prediction=PREDICTION)] if labelled else None
        }
    else:
        categorical += [PREDICTION, *([target] if labelled else [])]
        classification: list[BinaryClassification | MulticlassClassification] = []
        if labelled and checks.positive_class is not None:
            classification.append(
                BinaryClassification(
                    target=target,
                    prediction_labels=PREDICTION,
                    prediction_probas=f"probability_{checks.positive_class}",
                    pos_label=checks.positive_class,
                )
            )
        elif labelled:
            classification.append(MulticlassClassification(target=target, prediction_labels=PREDICTION))
        quality = {"classification": classification or None}
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical, **quality)


def _quality_metrics(checks: DriftChecks, current: pd.DataFrame) -> list[Any]:
    """Data quality against the contract: missing values, and values outside its ranges or categories."""
    metrics: list[Any] = []
    for feature in checks.contract.features:
        metrics.append(MissingValueCount(column=feature.name, tests=None if feature.nullable else [eq(0)]))
        if current[feature.name].isna().all():
            continue  # nothing to range-check (and Evidently would divide by zero)
        if isinstance(feature, NumericFeature):
            if feature.min is not None or feature.max is not None:
                low = -math.inf if feature.min is None else feature.min
                high = math.inf if feature.max is None else feature.max
                metrics.append(OutRangeValueCount(column=feature.name, left=low, right=high, tests=[eq(0)]))
        else:
            metrics.append(OutListValueCount(column=feature.name, values=feature.categories, tests=[eq(0)]))
    return metrics


def build_report(checks: DriftChecks, current: pd.DataFrame, labelled: bool) -> Report:
    """One report: drift per feature and overall, prediction drift, data quality, and quality with labels."""
    features = checks.contract.feature_names
    metrics: list[Any] = [
        DriftedColumnsCount(
            columns=features,
            drift_share=checks.max_drift_share,
            per_column_threshold=checks.thresholds or None,
            share_tests=[lte(checks.max_drift_share)],
        ),
        *(ValueDrift(column=name, threshold=checks.thresholds.get(name)) for name in features),
        ValueDrift(column=PREDICTION),
        *_quality_metrics(checks, current),
    ]
    if labelled:
        binary = checks.positive_class is not None
        for limit in checks.limits:
            if limit.metric == "roc_auc" and not binary:
                continue  # needs one probability column; multi-class AUC is in the summary
            test = gte(limit.value) if limit.bound == "min" else lte(limit.value)
            metric = QUALITY_METRICS[limit.metric]
            keyword = "mean_tests" if metric is MAE else "tests"  # Evidently's MAE tests its mean (or std)
            metrics.append(metric(**{keyword: [test]}))
    return Report(metrics, include_tests=True)


def run_report(checks: DriftChecks, reference: pd.DataFrame, current: pd.DataFrame, labelled: bool) -> Snapshot:
    """Run the report; both tables hold the features, the prediction and its probabilities (and the target)."""
    definition = data_definition(checks, labelled)
    columns = [*checks.contract.feature_names, PREDICTION, *checks.probability_columns]
    if labelled:
        columns.append(checks.contract.target.name)
    report = build_report(checks, current, labelled)
    return report.run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
    )


def _by_type(snapshot: dict[str, Any]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Metrics grouped by Evidently type name, and each metric's test status (FAIL when its check failed)."""
    metrics: dict[str, list[dict[str, Any]]] = {}
    for metric in snapshot["metrics"]:
        kind = metric["config"]["type"].rsplit(":", 1)[-1]
        metrics.setdefault(kind, []).append(metric)
    status = {test["metric_config"]["metric_id"]: test["status"] for test in snapshot["tests"]}
    return metrics, status


def _verdict(metric: dict[str, Any], status: dict[str, str]) -> dict[str, Any]:
    config = metric["config"]
    return {
        "drifted": status.get(metric["id"]) == "FAIL",
        "method": config["method"],
        "score": round(float(metric["value"]), 6),
        "threshold": config["threshold"],
    }


def summarise(checks: DriftChecks, snapshot: Snapshot) -> dict[str, Any]:
    """Per-feature verdict, method, score and threshold; prediction drift; data quality counts."""
    metrics, status = _by_type(snapshot.dict())
    drift = {m["config"]["column"]: _verdict(m, status) for m in metrics["ValueDrift"]}
    prediction = drift.pop(PREDICTION)
    drifted = [name for name, verdict in drift.items() if verdict["drifted"]]
    share = len(drifted) / len(drift)
    quality: dict[str, dict[str, int]] = {name: {} for name in checks.contract.feature_names}
    for kind, key in (
        ("MissingValueCount", "missing"),
        ("OutRangeValueCount", "outside"),
        ("OutListValueCount", "outside"),
    ):
        for metric in metrics.get(kind, []):
            quality[metric["config"]["column"]][key] = int(metric["value"]["count"])
    return {
        "drift_detected": share > checks.max_drift_share,
        "drifted_share": round(share, 6),
        "max_drift_share": checks.max_drift_share,
        "drifted_features": drifted,
        "features": drift,
        "prediction": prediction,
        "data_quality": quality,
    }
