"""Helpers shared by the tests: settings in a temporary folder, and data made from any data contract.

The suite never names a column, class or value of the project's own data: it builds its data
from ``config/contract.yaml`` with ``synthetic_frame`` (seeded; numbers within their bounds,
categories from the contract, nulls only where nullable, and a target the features explain),
so it passes unchanged after the contract is replaced by a user's own. Tests that need a shape
the project's contract may not have (categories, string classes, several classes, regression)
declare a small contract of their own below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package }}.contract import (
    CategoricalFeature,
    CategoricalTarget,
    Contract,
    NumericFeature,
    NumericTarget,
    Problem,
    load_contract,
)
from {{ cookiecutter.package }}.settings import Objectives, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
PROJECT_CONTRACT = load_contract(ROOT / "config" / "contract.yaml")
NULL_SHARE = 0.1  # of a nullable feature's values
SIGNAL_WEIGHTS = (1.0, 0.3, 0.1)  # the first features carry the signal, the first most: easy to split on
# An estimator of each task whose pipeline converts to ONNX whatever features the contract holds.
CONVERTING = {"classification": "sklearn.linear_model:LogisticRegression", "regression": "sklearn.linear_model:Ridge"}
RULE_SEED = 20261201  # the feature -> target rule is the same for every sample, whatever its seed


def settings_in(folder: Path, *, plots: bool = False, **changes: object) -> Settings:
    """The project's own settings, with data and reports moved into ``folder``.

    Training draws no plots unless ``plots``: most tests only read the model, and the tests of the
    plots (and the CI rehearsal of the template) train with them.
    """
    base = load_settings(ROOT / "config" / "project.yaml")
    update: dict[str, object] = {
        "contract": ROOT / "config" / "contract.yaml",
        "data": base.data.model_copy(update={"path": folder / "data.csv"}),
        "reports_dir": folder / "reports",
        "drift": base.drift.model_copy(update={"reports_dir": folder / "reports" / "drift"}),
    }
    settings = base.model_copy(update=update | changes)
    return settings.model_copy(update={"training": settings.training.model_copy(update={"plots": plots})})


def span(low: float | None, high: float | None) -> tuple[float, float]:
    """A finite range inside optional bounds: the bounds themselves, or 100 wide from the one given."""
    if low is not None and high is not None:
        return low, high
    if low is not None:
        return low, low + 100
    if high is not None:
        return high - 100, high
    return 0.0, 100.0


def synthetic_frame(contract: Contract, rows: int, seed: int = 0, *, learnable: bool = True) -> pd.DataFrame:
    """Rows that satisfy ``contract``, with a target the features explain (or not, if not ``learnable``).

    The first features push a hidden score up or down (numbers by where they sit in their range,
    categories by a fixed effect each); the target follows the score: classes by its quantiles,
    a numeric target rising with it inside the target's bounds. The rule depends on the contract
    only, so samples of any seed and size share it: a model of one scores well on another.
    """
    rng, rule = np.random.default_rng(seed), np.random.default_rng(RULE_SEED)
    columns: dict[str, Any] = {}
    score = np.zeros(rows)
    for position, feature in enumerate(contract.features):
        if isinstance(feature, NumericFeature):
            low, high = span(feature.min, feature.max)
            values = rng.uniform(low, high, rows)
            effect = rule.choice([-1.0, 1.0]) * ((values - low) / (high - low) - 0.5)
            column: Any = values
        else:
            effects = dict(zip(feature.categories, rule.uniform(-1, 1, len(feature.categories)), strict=True))
            column = rng.choice(feature.categories, rows).astype(object)
            effect = np.array([effects[value] for value in column])
        if feature.nullable:
            missing = rng.random(rows) < NULL_SHARE
            column = pd.Series(column, dtype=object if isinstance(feature, CategoricalFeature) else "float64")
            column[missing] = None
            effect = np.where(missing, 0.0, effect)
        columns[feature.name] = column
        score += effect * SIGNAL_WEIGHTS[position] if position < len(SIGNAL_WEIGHTS) else 0.0
    score = (score - score.mean()) / (score.std() or 1.0) + rng.normal(0, 0.05, rows)
    if not learnable:
        rng.shuffle(score)
    columns[contract.target.name] = _target(contract, score)
    return pd.DataFrame(columns)


def _target(contract: Contract, score: np.ndarray) -> Any:
    target = contract.target
    if isinstance(target, CategoricalTarget):
        edges = np.quantile(score, np.linspace(0, 1, len(target.classes) + 1)[1:-1])
        return pd.Series(target.classes)[np.searchsorted(edges, score)].to_numpy()
    low, high = span(target.min, target.max)
    return low + (high - low) * (0.1 + 0.8 / (1 + np.exp(-score)))


def features_of(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The feature columns of a synthetic frame."""
    return frame[contract.feature_names]


def records_of(frame: pd.DataFrame, contract: Contract) -> list[dict[str, Any]]:
    """API records of the frame's rows: JSON types, None for a missing value."""
    features = features_of(frame, contract).astype(object)
    return [
        {str(name): None if pd.isna(value) else value for name, value in row.items()}
        for row in features.to_dict("records")
    ]


def passing_objectives(contract: Contract) -> Objectives:
    """Objectives a model of learnable synthetic data meets and one of unlearnable data misses."""
    if contract.task == "regression":
        return Objectives(min_r2=0.5)
    return Objectives(min_roc_auc=0.8)  # with many classes accuracy falls faster than ROC AUC


# Shapes the project's own contract may lack, declared by the tests themselves.
MIXED = Contract(
    target=CategoricalTarget(name="churned", classes=["no", "yes"], positive_class="yes"),
    features=[
        NumericFeature(name="tenure_months", type="numeric", min=0, max=240),
        CategoricalFeature(name="plan", type="categorical", categories=["basic", "pro", "team"], nullable=True),
    ],
)
MULTICLASS = Contract(
    target=CategoricalTarget(name="species", classes=["a", "b", "c"]),
    features=[
        NumericFeature(name="length", type="numeric", min=0, max=10),
        NumericFeature(name="width", type="numeric", min=0, max=5, nullable=True),
        CategoricalFeature(name="site", type="categorical", categories=["north", "south"]),
    ],
)
REGRESSION = Contract(
    target=NumericTarget(name="price", type="numeric", min=0, max=1000),
    features=[
        NumericFeature(name="area", type="numeric", min=10, max=300),
        NumericFeature(name="building_age", type="numeric", min=0, nullable=True),
        CategoricalFeature(name="district", type="categorical", categories=["centre", "suburb", "rural"]),
    ],
)


def mixed_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Synthetic churn data of the MIXED contract."""
    return synthetic_frame(MIXED, rows, seed)


def train_on(
    folder: Path,
    contract: Contract,
    *,
    model_name: str,
    rows: int = 600,
    seed: int = 0,
    reference_rows: int = 1000,
    objectives: Objectives | None = None,
    estimator: str | None = None,
    plots: bool = False,
) -> tuple[Settings, str]:
    """A model of ``contract`` trained on its synthetic rows, in ``folder`` and under its own model name.

    It is fitted with ``estimator`` (default: the default estimator of the contract's task, as the
    project's estimator may not suit the contract's task) and default training settings (no plots
    unless ``plots``), gated by ``objectives`` (default: ``passing_objectives``).
    """
    from {{ cookiecutter.package }}.data import write_table
    from {{ cookiecutter.package }}.settings import TrainingSettings
    from {{ cookiecutter.package }}.train import train

    settings = settings_in(
        folder,
        model_name=model_name,
        objectives=objectives or passing_objectives(contract),
        training=TrainingSettings(reference_rows=reference_rows, estimator=estimator),
        plots=plots,
    )
    write_table(synthetic_frame(contract, rows, seed), settings.data_path)
    return settings, train(settings, contract)


# The ways ``bad_field`` breaks one field of a request record, each with what the contract needs for it.
BAD_FIELDS = {
    "below-min": "numeric feature with a min",
    "above-max": "numeric feature with a max",
    "string-for-number": "numeric feature",
    "null-for-number": "numeric feature that is not nullable",
    "unknown-category": "categorical feature",
    "null-for-category": "categorical feature that is not nullable",
    "unknown-field": "name left for an unknown field",
}


def bad_field(contract: Contract, case: str) -> tuple[str, Any, str] | None:
    """(field, value, pydantic error type) of the first feature that can be broken as ``case`` says, else None."""

    def step(bound: float) -> float:  # past a bound by more than float rounding could swallow
        return max(1.0, abs(bound))

    numeric, categorical = contract.numeric, contract.categorical
    match case:
        case "below-min":
            for feature in numeric:
                if feature.min is not None:
                    return feature.name, feature.min - step(feature.min), "greater_than_equal"
            return None
        case "above-max":
            for feature in numeric:
                if feature.max is not None:
                    return feature.name, feature.max + step(feature.max), "less_than_equal"
            return None
        case "string-for-number":
            return (numeric[0].name, "12", "float_type") if numeric else None
        case "null-for-number":
            required = next((f for f in numeric if not f.nullable), None)
            return None if required is None else (required.name, None, "float_type")
        case "unknown-category":
            return (categorical[0].name, "not-a-category", "literal_error") if categorical else None
        case "null-for-category":
            required_category = next((f for f in categorical if not f.nullable), None)
            return None if required_category is None else (required_category.name, None, "literal_error")
        case "unknown-field":
            return ("not_a_feature", 1.0, "extra_forbidden") if "not_a_feature" not in contract.feature_names else None
    raise ValueError(f"unknown case {case!r}; one of {sorted(BAD_FIELDS)}")


def break_first_feature(frame: pd.DataFrame, contract: Contract, rows: int) -> tuple[pd.DataFrame, Problem]:
    """A copy of ``frame`` whose first feature breaks a rule in its first ``rows`` rows, and the problem reported.

    A numeric feature gets text (``must be a number``), a categorical one an unknown category. Write
    the result as CSV: Parquet cannot store a column of numbers and text.
    """
    feature = contract.features[0]
    broken = frame.astype({feature.name: object})
    if isinstance(feature, NumericFeature):
        broken.loc[broken.index[:rows], feature.name] = "not a number"
        return broken, Problem(feature.name, "must be a number", rows)
    broken.loc[broken.index[:rows], feature.name] = "|".join(feature.categories) + "|unknown"
    return broken, Problem(feature.name, f"must be one of {feature.categories}", rows)
