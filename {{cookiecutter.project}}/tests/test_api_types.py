from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package }}.api_types import prediction_model, record_model
from {{ cookiecutter.package }}.contract import ID_MAX_LENGTH, CategoricalTarget, Contract, NumericFeature
from {{ cookiecutter.package }}.errors import ConfigError

from .support import MIXED, MULTICLASS, REGRESSION


def test_records_follow_the_contract_types_ranges_and_categories() -> None:
    record = record_model(MIXED)
    assert record(tenure_months=12, plan="pro").model_dump() == {"tenure_months": 12.0, "plan": "pro"}
    assert record(tenure_months=12).model_dump()["plan"] is None  # nullable: may be left out
    with pytest.raises(ValidationError) as caught:
        record(tenure_months=-1, plan="enterprise", extra=1)
    assert {(e["loc"][0], e["type"]) for e in caught.value.errors()} == {
        ("tenure_months", "greater_than_equal"),
        ("plan", "literal_error"),
        ("extra", "extra_forbidden"),
    }


def test_numbers_must_be_finite_json_numbers() -> None:
    record = record_model(MIXED)
    for bad in ('{"tenure_months": "12"}', '{"tenure_months": NaN}', '{"tenure_months": Infinity}'):
        with pytest.raises(ValidationError):
            record.model_validate_json(bad)


def test_the_schema_documents_the_contract() -> None:
    schema = record_model(MIXED).model_json_schema()
    assert schema["properties"]["tenure_months"]["minimum"] == 0
    assert schema["properties"]["tenure_months"]["maximum"] == 240
    assert schema["required"] == ["tenure_months"]
    assert schema["additionalProperties"] is False


def test_predictions_carry_a_contract_class_and_the_model_version() -> None:
    prediction = prediction_model(MIXED)
    answer = prediction(prediction="yes", probabilities={"no": 0.2, "yes": 0.8}, model_version="m:1")
    assert answer.model_dump()["prediction"] == "yes"
    with pytest.raises(ValidationError):
        prediction(prediction="maybe", probabilities={}, model_version="m:1")


def test_a_regression_prediction_is_a_number_without_probabilities() -> None:
    prediction = prediction_model(REGRESSION)
    assert list(prediction.model_fields) == ["prediction", "model_version"]
    answer = prediction(prediction=412.5, model_version="m:1")
    assert answer.model_dump() == {"prediction": 412.5, "model_version": "m:1"}
    with pytest.raises(ValidationError):
        prediction(prediction="high", model_version="m:1")


def test_the_answer_schema_follows_the_task() -> None:
    classification = prediction_model(MULTICLASS).model_json_schema()
    assert classification["required"] == ["prediction", "probabilities", "model_version"]
    assert classification["properties"]["prediction"]["enum"] == ["a", "b", "c"]
    assert classification["properties"]["prediction"]["description"] == "Predicted species"
    assert classification["properties"]["probabilities"]["additionalProperties"] == {"type": "number"}
    regression = prediction_model(REGRESSION).model_json_schema()
    assert regression["required"] == ["prediction", "model_version"]
    assert regression["properties"]["prediction"]["type"] == "number"
    assert regression["properties"]["prediction"]["description"] == "Predicted price"
    assert "probabilities" not in regression["properties"]


def test_the_record_schema_of_a_regression_contract_has_open_bounds_and_nulls() -> None:
    schema = record_model(REGRESSION).model_json_schema()
    assert list(schema["properties"]) == ["area", "building_age", "district"]
    assert schema["required"] == ["area", "district"]
    building_age = schema["properties"]["building_age"]
    assert building_age["anyOf"][0] == {"minimum": 0.0, "type": "number"}
    assert building_age["anyOf"][1] == {"type": "null"}
    assert schema["properties"]["district"]["enum"] == ["centre", "suburb", "rural"]


def test_feature_names_with_spaces_and_symbols_are_the_json_keys_exactly() -> None:
    names = ["total bill ($)", "a: b # c", "it's", "naïve", "1st", "class"]
    contract = Contract(
        target=CategoricalTarget(name="label", classes=["no", "yes"]),
        features=[NumericFeature(name=name, type="numeric", min=0) for name in names],
    )
    record = record_model(contract)
    assert list(record.model_json_schema()["properties"]) == names
    parsed = record.model_validate_json(json.dumps(dict.fromkeys(names, 1.5)))
    assert dict(parsed.__dict__) == dict.fromkeys(names, 1.5)  # what the service hands the model
    with pytest.raises(ValidationError) as caught:
        record.model_validate_json(json.dumps(dict.fromkeys(names, -1)))
    assert {e["loc"][0] for e in caught.value.errors()} == set(names)


@pytest.mark.parametrize("name", ["_row", "json", "model_dump", "model_config"])
def test_a_name_pydantic_cannot_hold_is_refused_with_the_reason(name: str) -> None:
    contract = Contract(
        target=CategoricalTarget(name="label", classes=["no", "yes"]),
        features=[NumericFeature(name=name, type="numeric"), NumericFeature(name="fine name", type="numeric")],
    )
    with pytest.raises(ConfigError, match=rf"feature names the API cannot take: '{name}' .*; rename those columns"):
        record_model(contract)


def test_a_record_id_is_an_optional_bounded_string_echoed_first_in_the_answer() -> None:
    contract = REGRESSION.model_copy(update={"id_column": "order_id"})
    record_type = record_model(contract)
    good = {"area": 50.0, "building_age": None, "district": "centre"}
    assert record_type.model_validate(good).model_dump()["order_id"] is None
    assert record_type.model_validate(good | {"order_id": "o-1"}).model_dump()["order_id"] == "o-1"
    for value, error in [(7, "string_type"), ("", "string_too_short"), ("x" * (ID_MAX_LENGTH + 1), "string_too_long")]:
        with pytest.raises(ValidationError) as caught:
            record_type.model_validate_json(json.dumps(good | {"order_id": value}))
        assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [(("order_id",), error)]
    assert list(prediction_model(contract).model_fields) == ["order_id", "prediction", "model_version"]
    assert "order_id" not in prediction_model(REGRESSION).model_fields


@pytest.mark.parametrize("name", ["prediction", "probabilities", "model_version", "runtime", "probability_1", "_id"])
def test_an_id_named_like_an_output_column_or_a_private_name_is_refused(name: str) -> None:
    contract = MIXED.model_copy(update={"id_column": name})
    with pytest.raises(ConfigError, match=rf"id_column '{name}' .*: name the ID column otherwise"):
        record_model(contract)
