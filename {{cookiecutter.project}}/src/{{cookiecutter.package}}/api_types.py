"""API types built from a data contract, so a feature added to the contract appears in the API.

The same ranges, categories and nullability as training validation; unknown fields, strings
for numbers and non-finite numbers are refused with the field and the rule named. A record's
field names are the contract's feature names exactly (spaces and symbols included), so the
JSON keys are the column names; the few names pydantic cannot hold are refused with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from .contract import ID_MAX_LENGTH, CategoricalFeature, Contract, Feature, NumericTarget
from .errors import ConfigError
from .model import MODEL_VERSION, PREDICTION, PROBABILITIES, PROBABILITY_PREFIX, RESERVED

STRICT_INPUT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def _field(feature: Feature) -> tuple[Any, Any]:
    """The pydantic (type, default) of one feature: required unless nullable."""
    if isinstance(feature, CategoricalFeature):
        kind: Any = Literal[tuple(feature.categories)]
        constraints = Field(description=feature.description or None)
    else:
        kind = float
        constraints = Field(ge=feature.min, le=feature.max, description=feature.description or None)
    if feature.nullable:
        return Annotated[kind | None, constraints], None
    return Annotated[kind, constraints], ...


def field_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a record field, or None: pydantic hides ``_names`` and keeps its own attributes.

    Any other text works as it is (``total bill ($)``): the service reads the fields by name, so an
    alias would not help, and the record's keys stay the contract's names.
    """
    if name.startswith("_"):
        return "starts with an underscore (pydantic keeps such names private)"
    if hasattr(BaseModel, name) or name.startswith(("model_validate", "model_dump")):
        return "is reserved by pydantic (a BaseModel attribute)"
    return None


def _id_field() -> tuple[Any, Any]:
    """The optional record ID: a non-empty string of at most ID_MAX_LENGTH characters."""
    constraints = Field(
        min_length=1,
        max_length=ID_MAX_LENGTH,
        description="Your ID of this record, echoed in the answer and the prediction log (to join labels on)",
    )
    return Annotated[str | None, constraints], None


def record_model(contract: Contract) -> type[BaseModel]:
    """One input record: a field per feature, in contract order, named as the feature; and the ID, if any."""
    reserved = [f"{name!r} {problem}" for name in contract.feature_names if (problem := field_name_problem(name))]
    if reserved:
        raise ConfigError(f"feature names the API cannot take: {'; '.join(reserved)}; rename those columns")
    fields = {feature.name: _field(feature) for feature in contract.features}
    if contract.id_column:
        name = contract.id_column
        problem = field_name_problem(name)
        if name in RESERVED or name.startswith(PROBABILITY_PREFIX):
            problem = "is an output column of every prediction"
        if problem:
            raise ConfigError(f"id_column {name!r} {problem}: name the ID column otherwise in the data contract")
        fields[name] = _id_field()
    return create_model("Record", __config__=STRICT_INPUT, **fields)  # type: ignore[call-overload, no-any-return]


def prediction_model(contract: Contract) -> type[BaseModel]:
    """One answer: the record's ID (with one in the contract), the prediction (and class probabilities), the model."""
    target = contract.target
    fields: dict[str, Any] = {}
    if contract.id_column:
        fields[contract.id_column] = (str | None, Field(description="The record's ID, as sent"))
    if isinstance(target, NumericTarget):
        fields[PREDICTION] = (float, Field(description=f"Predicted {target.name}"))
    else:
        label: Any = Literal[tuple(target.classes)]
        fields[PREDICTION] = (label, Field(description=f"Predicted {target.name}"))
        fields[PROBABILITIES] = (dict[str, float], Field(description="Probability of each class, keyed by class"))
    fields[MODEL_VERSION] = (str, Field(description="Tag of the model that produced this prediction"))
    return create_model("Prediction", **fields)


class ModelInfo(BaseModel):
    """What is being served: tag, lineage, metrics and the contract."""

    tag: str
    task: str
    runtime: Literal["onnx", "sklearn"]  # which runtime answers (serving.runtime)
    estimator: str
    created: datetime
    metrics: dict[str, float]
    labels: dict[str, str]
    rows: dict[str, int]
    contract: dict[str, Any]
