"""API types built from a data contract, so a feature added to the contract appears in the API.

The same ranges, categories and nullability as training validation; unknown fields, strings
for numbers and non-finite numbers are refused with the field and the rule named.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from .contract import CategoricalFeature, Contract, Feature, NumericTarget

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


def record_model(contract: Contract) -> type[BaseModel]:
    """One input record: a field per feature, in contract order."""
    fields = {feature.name: _field(feature) for feature in contract.features}
    return create_model("Record", __config__=STRICT_INPUT, **fields)  # type: ignore[call-overload, no-any-return]


def prediction_model(contract: Contract) -> type[BaseModel]:
    """One answer: the predicted class and a probability per class, or the predicted value; and the model."""
    target = contract.target
    version = (str, Field(description="Tag of the model that produced this prediction"))
    if isinstance(target, NumericTarget):
        return create_model(
            "Prediction", prediction=(float, Field(description=f"Predicted {target.name}")), model_version=version
        )
    label: Any = Literal[tuple(target.classes)]
    return create_model(
        "Prediction",
        prediction=(label, Field(description=f"Predicted {target.name}")),
        probabilities=(dict[str, float], Field(description="Probability of each class, keyed by class")),
        model_version=version,
    )


class ModelInfo(BaseModel):
    """What is being served: tag, lineage, metrics and the contract."""

    tag: str
    task: str
    estimator: str
    created: datetime
    metrics: dict[str, float]
    labels: dict[str, str]
    rows: dict[str, int]
    contract: dict[str, Any]
