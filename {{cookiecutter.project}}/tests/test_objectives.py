"""The service and promotion objectives: validated like the others, listed in the objectives table."""

from __future__ import annotations

import pydantic
import pytest

from {{ cookiecutter.package }} import docs_pages
from {{ cookiecutter.package }}.errors import ConfigError
from {{ cookiecutter.package }}.settings import Objectives


def test_service_objectives_have_defaults_and_stay_out_of_the_metric_gate() -> None:
    objectives = Objectives(min_roc_auc=0.9)
    assert (objectives.expected_rps, objectives.max_p95_latency_ms, objectives.max_error_rate) == (20, 100, 0.01)
    assert [limit.key for limit in objectives.limits()] == ["objectives.min_roc_auc"]
    assert objectives.declared() == {"min_roc_auc": 0.9}  # what is stored with a model version


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("expected_rps", 0),
        ("expected_rps", -5),
        ("max_p95_latency_ms", 0),
        ("max_error_rate", 1.5),
        ("max_error_rate", -0.1),
        ("challenger_margin", -0.01),
    ],
)
def test_a_service_objective_out_of_range_is_refused(key: str, value: float) -> None:
    with pytest.raises(pydantic.ValidationError, match=key):
        Objectives.model_validate({key: value})


def test_the_primary_metric_is_the_first_objective_of_the_task() -> None:
    assert Objectives(min_f1=0.8, min_roc_auc=0.9).primary("classification").metric == "roc_auc"
    assert Objectives(min_r2=0.3, max_mae=40).primary("regression").metric == "mae"
    with pytest.raises(ConfigError, match="no metric objective is set for regression"):
        Objectives().primary("regression")


def test_the_objectives_table_lists_the_service_and_promotion_objectives() -> None:
    table = docs_pages.objectives_table(
        Objectives(min_roc_auc=0.9, expected_rps=12.5, max_p95_latency_ms=80, max_error_rate=0.002)
    )
    assert "| `objectives.expected_rps` | requests per second one replica sustains" in table
    assert "(at least 95% of it) | >= 12.5 |" in table
    assert "| `objectives.max_p95_latency_ms` | 95th percentile latency at that rate, ms | <= 80 |" in table
    assert "| `objectives.max_error_rate` | share of requests failed at that rate | <= 0.002 |" in table
    assert "| `objectives.challenger_margin` |" in table
