"""The Evidently report of a drift check, and the verdicts read back from it.

Evidently costs ~300 MB and seconds to import: only ``drift.check_drift`` imports this
module, never the service or the other commands. The report holds data drift per feature
and the share of drifted features, prediction drift, data quality against the contract
(missing values, values outside its ranges or categories), and classification quality with
the objectives as floors when the current data carries labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Report
from evidently.core.report import Snapshot
from evidently.metrics import (
    Accuracy,
    DriftedColumnsCount,
    F1Score,
    MissingValueCount,
    OutListValueCount,
    OutRangeValueCount,
    Precision,
    Recall,
    RocAuc,
    ValueDrift,
)
from evidently.tests import eq, gte, lte

from .contract import Contract, NumericFeature
from .predict import PREDICTION

QUALITY_METRICS = {"accuracy": Accuracy, "f1": F1Score, "precision": Precision, "recall": Recall, "roc_auc": RocAuc}


@dataclass(frozen=True)
class DriftChecks:
    """What the report checks and against which thresholds."""

    contract: Contract
    max_drift_share: float
    thresholds: dict[str, float] = field(default_factory=dict)  # feature -> drift threshold override
    floors: dict[str, float] = field(default_factory=dict)  # quality metric -> floor, with labels only
    positive_class: Any = None  # binary: the class whose probability column is scored


def data_definition(checks: DriftChecks, labelled: bool, probability_columns: list[str]) -> DataDefinition:
    """Column roles from the contract: numeric, categorical, the prediction and, with labels, the target."""
    contract = checks.contract
    target = contract.target.name
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
    return DataDefinition(
        numerical_columns=[f.name for f in contract.numeric] + probability_columns,
        categorical_columns=[f.name for f in contract.categorical] + [PREDICTION] + ([target] if labelled else []),
        classification=classification or None,
    )


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
        for name, floor in checks.floors.items():
            if name == "roc_auc" and not binary:
                continue  # needs one probability column; multi-class AUC is in the summary
            metrics.append(QUALITY_METRICS[name](tests=[gte(floor)]))
    return Report(metrics, include_tests=True)


def run_report(
    checks: DriftChecks, reference: pd.DataFrame, current: pd.DataFrame, labelled: bool, probability_columns: list[str]
) -> Snapshot:
    """Run the report; both tables hold the features, the prediction and its probabilities (and the target)."""
    definition = data_definition(checks, labelled, probability_columns)
    columns = [*checks.contract.feature_names, PREDICTION, *probability_columns]
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
