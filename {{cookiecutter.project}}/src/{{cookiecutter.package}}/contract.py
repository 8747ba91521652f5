"""The data contract: features and target declared in YAML, and the checks derived from them.

Validation is a handful of vectorised pandas checks per column. Every problem is
reported as (column, rule, rows) so a user sees all of them at once, not just the first.
Why not pandera: its lazy report for one non-numeric cell is three failure cases (coercion,
dtype, and a TypeError from the range check) that would need this much code again to turn
into (column, rule, rows), and it adds a dependency and ~0.7 s to every command's start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from .errors import ConfigError, DataError
from .settings import describe_validation_error, read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_bounds(low: float | None, high: float | None) -> None:
    """Inclusive bounds of a feature or target must be in order."""
    if low is not None and high is not None and low > high:
        raise ValueError(f"min ({low}) is greater than max ({high})")


class NumericFeature(_Strict):
    """A number, optionally bounded (inclusive)."""

    name: str = Field(min_length=1)
    type: Literal["numeric"]
    min: float | None = None
    max: float | None = None
    nullable: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _bounds_ordered(self) -> NumericFeature:
        _check_bounds(self.min, self.max)
        return self


class CategoricalFeature(_Strict):
    """One of a fixed set of string values."""

    name: str = Field(min_length=1)
    type: Literal["categorical"]
    categories: list[str] = Field(min_length=1)
    nullable: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _categories_unique(self) -> CategoricalFeature:
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("categories must be unique")
        return self


Feature = Annotated[NumericFeature | CategoricalFeature, Field(discriminator="type")]


YAML_BOOLEAN_HINT = (
    "YAML reads unquoted No/Yes, off/on and false/true as booleans: quote the classes, e.g. classes: ['No', 'Yes']"
)


class CategoricalTarget(_Strict):
    """The label column of a classification problem: one of ``classes``."""

    name: str = Field(min_length=1)
    type: Literal["categorical"] = "categorical"
    classes: list[int | str] = Field(min_length=2)
    positive_class: int | str | None = None
    description: str = ""

    @field_validator("classes", "positive_class", mode="before")
    @classmethod
    def _no_booleans(cls, value: object) -> object:
        if isinstance(value, bool) or (isinstance(value, list) and any(isinstance(item, bool) for item in value)):
            raise ValueError(YAML_BOOLEAN_HINT)
        return value

    @model_validator(mode="after")
    def _positive_is_a_class(self) -> CategoricalTarget:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes must be unique")
        if self.positive_class is not None and self.positive_class not in self.classes:
            raise ValueError(f"positive_class {self.positive_class!r} is not one of {self.classes}")
        return self

    @property
    def positive(self) -> int | str | None:
        """The class a binary target is scored for (``positive_class``, else the last class); None if multi-class."""
        if len(self.classes) != 2:
            return None
        return self.positive_class if self.positive_class is not None else self.classes[-1]


class NumericTarget(_Strict):
    """The value column of a regression problem, optionally bounded (inclusive)."""

    name: str = Field(min_length=1)
    type: Literal["numeric"]
    min: float | None = None
    max: float | None = None
    description: str = ""

    @model_validator(mode="after")
    def _bounds_ordered(self) -> NumericTarget:
        _check_bounds(self.min, self.max)
        return self


def _target_kind(value: Any) -> str:
    """Contracts written before regression existed have no ``type``: they are categorical."""
    kind = value.get("type", "categorical") if isinstance(value, dict) else getattr(value, "type", "categorical")
    return str(kind)


Target = Annotated[
    Annotated[CategoricalTarget, Tag("categorical")] | Annotated[NumericTarget, Tag("numeric")],
    Discriminator(
        _target_kind, custom_error_type="target_type", custom_error_message="type must be categorical or numeric"
    ),
]
Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class Problem:
    """One broken rule: which column, which rule, how many rows."""

    column: str
    rule: str
    rows: int

    def __str__(self) -> str:
        return f"{self.column}: {self.rule} ({self.rows} rows)"


class ContractViolationError(DataError):
    """A table breaks the contract; ``problems`` lists every broken rule."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source} breaks the data contract ({len(problems)} problems):\n{lines}")


ID_MAX_LENGTH = 128  # characters of a record ID: room for a UUID or a composite key, not for a payload


class Contract(_Strict):
    """Features and target: the single source of the model's input and output schema.

    ``id_column`` (optional) names a record ID the client sends: never a feature, it is echoed in
    each answer and recorded in the prediction log, so labels collected later join the log on it.
    """

    target: Target
    features: list[Feature] = Field(min_length=1)
    id_column: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _names_unique(self) -> Contract:
        names = [feature.name for feature in self.features]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"feature names must be unique: {duplicates}")
        if self.target.name in names:
            raise ValueError(f"the target {self.target.name!r} is also listed as a feature")
        if self.id_column is not None and self.id_column in [*names, self.target.name]:
            raise ValueError(f"id_column {self.id_column!r} is also a feature or the target: name a column of its own")
        return self

    @property
    def task(self) -> Task:
        """Classification for a categorical target, regression for a numeric one."""
        return "classification" if isinstance(self.target, CategoricalTarget) else "regression"

    @property
    def feature_names(self) -> list[str]:
        """Feature columns in contract order (the model's input order)."""
        return [feature.name for feature in self.features]

    @property
    def record_fields(self) -> list[str]:
        """The fields of an API record: the features, then the ID column if there is one."""
        return [*self.feature_names, *([self.id_column] if self.id_column else [])]

    @property
    def numeric(self) -> list[NumericFeature]:
        """The numeric features."""
        return [f for f in self.features if isinstance(f, NumericFeature)]

    @property
    def categorical(self) -> list[CategoricalFeature]:
        """The categorical features."""
        return [f for f in self.features if isinstance(f, CategoricalFeature)]

    def validate_frame(self, frame: pd.DataFrame, *, source: str, with_target: bool) -> pd.DataFrame:
        """Check ``frame`` against the contract and return its features (and target) coerced.

        Extra columns are allowed and dropped from the result. Raises
        ContractViolationError listing every problem found.
        """
        refuse_duplicate_columns(frame, source)
        problems: list[Problem] = []
        if frame.empty:
            problems.append(Problem("(table)", "has no rows", 0))
        columns: dict[str, pd.Series] = {}
        for feature in self.features:
            if feature.name not in frame.columns:
                problems.append(Problem(feature.name, "required column is missing", len(frame)))
                continue
            column, found = _check_feature(feature, frame[feature.name])
            columns[feature.name] = column
            problems += found + _value_problems(feature, column)
        if with_target:
            target = self.target
            if target.name not in frame.columns:
                problems.append(Problem(target.name, "target column is missing", len(frame)))
            else:
                problems += self.check_target(frame[target.name])
                columns[target.name] = self.coerce_target(frame[target.name])
        if problems:
            raise ContractViolationError(source, problems)
        return pd.DataFrame(columns, index=frame.index)

    def check_types(self, frame: pd.DataFrame) -> list[Problem]:
        """Nulls where the contract forbids them, and values of the wrong type; not ranges or categories.

        What a drift check requires of current data: values outside the contract's ranges or
        categories are what it measures, but a text or true/false column has no numbers to compare.
        """
        return [
            problem for f in self.features if f.name in frame.columns for problem in _check_feature(f, frame[f.name])[1]
        ]

    def check_target(self, labels: pd.Series) -> list[Problem]:
        """Null targets, and targets outside the declared classes (or not numbers within the bounds)."""
        target = self.target
        problems = _count(labels.isna(), target.name, "target must not be null")
        if isinstance(target, CategoricalTarget):
            outside = labels.notna() & ~labels.isin(target.classes)
            return problems + _count(outside, target.name, f"target must be one of {target.classes}")
        values, wrong_type = _numbers(labels, target.name, "target must be a number")
        problems += wrong_type
        if target.min is not None:
            problems += _count(values < target.min, target.name, f"target must be >= {target.min:g}")
        if target.max is not None:
            problems += _count(values > target.max, target.name, f"target must be <= {target.max:g}")
        return problems

    def coerce_target(self, labels: pd.Series) -> pd.Series:
        """Target values as the model learns them: floats for regression, classes in their own type otherwise."""
        if isinstance(self.target, NumericTarget):
            return pd.to_numeric(labels, errors="coerce").astype("float64")
        return labels.infer_objects()

    def coerce_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The features in contract order and types, without checking any rule.

        A value that is not a number becomes NaN in a numeric column, so a drift check can
        count it as missing instead of refusing the table.
        """
        return pd.DataFrame({f.name: _coerce(f, frame[f.name]) for f in self.features}, index=frame.index)


def _coerce(feature: NumericFeature | CategoricalFeature, raw: pd.Series) -> pd.Series:
    """One column as its contract type: float64 numbers, or strings with None for missing."""
    if isinstance(feature, NumericFeature):
        return pd.to_numeric(raw, errors="coerce").astype("float64")
    return raw.astype("object").where(raw.isna(), raw.astype(str))


def _count(mask: pd.Series, column: str, rule: str) -> list[Problem]:
    rows = int(mask.sum())
    return [Problem(column, rule, rows)] if rows else []


def _check_feature(feature: NumericFeature | CategoricalFeature, raw: pd.Series) -> tuple[pd.Series, list[Problem]]:
    """Coerce one column to its contract type; count the nulls it may not hold and the values of the wrong type."""
    missing = raw.isna()
    problems = [] if feature.nullable else _count(missing, feature.name, "must not be null")
    if isinstance(feature, NumericFeature):
        values, wrong_type = _numbers(raw, feature.name, "must be a number")
        return values, problems + wrong_type
    return _coerce(feature, raw), problems


def _value_problems(feature: NumericFeature | CategoricalFeature, values: pd.Series) -> list[Problem]:
    """Numbers outside the feature's bounds, or values outside its categories."""
    if isinstance(feature, NumericFeature):
        problems = []
        if feature.min is not None:
            problems += _count(values < feature.min, feature.name, f"must be >= {feature.min:g}")
        if feature.max is not None:
            problems += _count(values > feature.max, feature.name, f"must be <= {feature.max:g}")
        return problems
    return _count(
        values.notna() & ~values.isin(feature.categories), feature.name, f"must be one of {feature.categories}"
    )


def _numbers(raw: pd.Series, column: str, rule: str) -> tuple[pd.Series, list[Problem]]:
    """A numeric column as float64, NaN where a value is not a number; and those values, counted by kind.

    Told apart by the column's type, not only by parsing: true/false is never a number, though pandas
    reads it as 1/0, and neither are dates. Text that does not parse is counted cell by cell (a CSV
    column with one bad cell is read as text); a column of text that all parses (Parquet strings
    such as "1.5") is of the wrong type as a whole.
    """
    present = raw.notna()
    if types.is_numeric_dtype(raw) and not types.is_bool_dtype(raw):
        return raw.astype("float64"), []
    nothing = pd.Series(np.nan, index=raw.index, dtype="float64")
    if types.is_bool_dtype(raw):
        return nothing, _count(present, column, f"{rule}, not true/false (a boolean column)")
    python_objects = types.is_object_dtype(raw)  # anything, bools included; else a text dtype holds text only
    if not (python_objects or types.is_string_dtype(raw)):
        return nothing, _count(present, column, f"{rule}, not {raw.dtype} values")
    booleans = _holds(raw, (bool, np.bool_)) if python_objects else pd.Series(False, index=raw.index)
    values = pd.to_numeric(raw.where(~booleans), errors="coerce").astype("float64")
    problems = _count(booleans, column, f"{rule}, not true/false")
    unparsed = values.isna() & present & ~booleans
    if unparsed.any():
        return values, problems + _count(unparsed, column, rule)
    texts = _holds(raw, (str,)) if python_objects else present
    if texts.any():
        return values.where(~texts), problems + _count(texts, column, f"{rule}, not text (store the column as numbers)")
    return values, problems


def _holds(raw: pd.Series, kinds: tuple[type, ...]) -> pd.Series:
    """Which values of an object or text column are instances of ``kinds``."""
    return raw.map(lambda value: isinstance(value, kinds), na_action="ignore").fillna(False).astype(bool)


def refuse_duplicate_columns(frame: pd.DataFrame, source: str) -> None:
    """A column name may appear once: which copy would be the feature?"""
    repeated = sorted({str(name) for name in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise DataError(f"{source}: duplicate column names {repeated}: rename or drop the copies")


def load_contract(path: Path) -> Contract:
    """Read and check the contract file; a bad entry is a ConfigError naming it."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with 'target' and 'features' (and optionally 'id_column')")
    try:
        return Contract(**raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc, "data contract")) from None
