from __future__ import annotations

from {{ cookiecutter.package }}.evaluation import check_objectives
from {{ cookiecutter.package }}.settings import Objectives

METRICS = {"accuracy": 0.95, "roc_auc": 0.99, "f1": 0.9, "precision": 0.92, "recall": 0.88}


def test_the_gate_passes_when_every_floor_is_met() -> None:
    assert check_objectives(METRICS, Objectives(min_roc_auc=0.99, min_accuracy=0.9)).passed


def test_the_gate_names_each_missed_metric_its_value_and_floor() -> None:
    gate = check_objectives(METRICS, Objectives(min_roc_auc=0.995, min_recall=0.9, min_f1=0.5))
    assert not gate.passed
    assert gate.failures == [
        "roc_auc = 0.9900 is below the floor objectives.min_roc_auc = 0.995",
        "recall = 0.8800 is below the floor objectives.min_recall = 0.9",
    ]


def test_no_objectives_means_nothing_to_miss() -> None:
    assert check_objectives(METRICS, Objectives()).passed
