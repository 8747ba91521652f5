"""The data contract: the configured data satisfies it, and every broken rule is counted by column and rule."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package }}.contract import (
    YAML_BOOLEAN_HINT,
    CategoricalTarget,
    Contract,
    ContractViolationError,
    NumericFeature,
    NumericTarget,
    Problem,
    load_contract,
)
from {{ cookiecutter.package }}.errors import ConfigError, DataError

from .support import MIXED, REGRESSION, synthetic_frame


def problems_of(contract: Contract, frame: pd.DataFrame, *, with_target: bool = True) -> set[Problem]:
    with pytest.raises(ContractViolationError) as caught:
        contract.validate_frame(frame, source="frame", with_target=with_target)
    return set(caught.value.problems)


def test_synthetic_data_satisfies_the_contract_it_is_made_from(contract: Contract) -> None:
    for each in (contract, MIXED, REGRESSION):
        frame = synthetic_frame(each, 50)
        assert len(each.validate_frame(frame, source="synthetic", with_target=True)) == 50


def first(features: list[NumericFeature], bound: str) -> NumericFeature | None:
    return next((feature for feature in features if getattr(feature, bound) is not None), None)


def test_every_numeric_problem_is_counted_by_column_and_rule(contract: Contract) -> None:
    if not contract.numeric:
        pytest.skip("the project's contract has no numeric feature")
    frame = synthetic_frame(contract, 10).astype(object)
    expected = set()
    number = contract.numeric[0]
    frame.loc[0, number.name] = "twelve"
    expected.add(Problem(number.name, "must be a number", 1))
    if (low := first(contract.numeric, "min")) is not None:
        frame.loc[1:2, low.name] = low.min - 1  # type: ignore[operator]
        expected.add(Problem(low.name, f"must be >= {low.min:g}", 2))
    if (high := first(contract.numeric, "max")) is not None:
        frame.loc[3, high.name] = high.max * 2 + 1  # type: ignore[operator]
        expected.add(Problem(high.name, f"must be <= {high.max:g}", 1))
    required = next((feature for feature in contract.features if not feature.nullable), None)
    if required is not None:
        frame.loc[4:6, required.name] = np.nan
        expected.add(Problem(required.name, "must not be null", 3))
    used = {problem.column for problem in expected}
    dropped = next((name for name in reversed(contract.feature_names) if name not in used), None)
    if dropped is not None:
        frame = frame.drop(columns=dropped)
        expected.add(Problem(dropped, "required column is missing", 10))
    assert problems_of(contract, frame) == expected


def test_a_nullable_feature_accepts_nulls() -> None:
    frame = synthetic_frame(REGRESSION, 10)
    (nullable,) = [feature for feature in REGRESSION.numeric if feature.nullable]
    frame.loc[:, nullable.name] = np.nan
    assert REGRESSION.validate_frame(frame, source="x", with_target=True)[nullable.name].isna().all()


def test_categorical_target_problems_are_reported_only_when_the_target_is_required() -> None:
    target = MIXED.target
    assert isinstance(target, CategoricalTarget)
    frame = synthetic_frame(MIXED, 5).astype({target.name: object})
    frame[target.name] = [target.classes[0], target.classes[1], "maybe", None, target.classes[0]]
    assert problems_of(MIXED, frame) == {
        Problem(target.name, f"target must be one of {target.classes}", 1),
        Problem(target.name, "target must not be null", 1),
    }
    without_target = MIXED.validate_frame(frame.drop(columns=target.name), source="x", with_target=False)
    assert list(without_target.columns) == MIXED.feature_names


def test_numeric_target_problems_are_counted_by_rule() -> None:
    target = REGRESSION.target
    assert isinstance(target, NumericTarget)
    assert target.min is not None
    assert target.max is not None
    frame = synthetic_frame(REGRESSION, 6).astype({target.name: object})
    frame[target.name] = [target.min, target.max, target.min - 5, target.max + 1, "lots", None]
    assert problems_of(REGRESSION, frame) == {
        Problem(target.name, f"target must be >= {target.min:g}", 1),
        Problem(target.name, f"target must be <= {target.max:g}", 1),
        Problem(target.name, "target must be a number", 1),
        Problem(target.name, "target must not be null", 1),
    }


def test_the_project_target_is_required_when_asked_for(contract: Contract) -> None:
    frame = synthetic_frame(contract, 5)
    assert problems_of(contract, frame.drop(columns=contract.target.name)) == {
        Problem(contract.target.name, "target column is missing", 5)
    }
    frame[contract.target.name] = frame[contract.target.name].astype(object)
    frame.loc[0, contract.target.name] = None
    assert problems_of(contract, frame) == {Problem(contract.target.name, "target must not be null", 1)}


def test_targets_are_coerced_to_what_the_model_learns() -> None:
    prices = REGRESSION.coerce_target(pd.Series([1, "2.5", 3]))
    assert prices.dtype == np.float64
    assert prices.tolist() == [1.0, 2.5, 3.0]
    assert MIXED.coerce_target(pd.Series(["no", "yes"], dtype=object)).tolist() == ["no", "yes"]
    assert MIXED.task == "classification"
    assert REGRESSION.task == "regression"


def test_extra_columns_are_allowed_and_dropped(contract: Contract) -> None:
    frame = synthetic_frame(contract, 3).assign(row_id=["a", "b", "c"])
    assert "row_id" not in contract.validate_frame(frame, source="x", with_target=True).columns


def test_an_empty_table_is_refused(contract: Contract) -> None:
    assert Problem("(table)", "has no rows", 0) in problems_of(contract, synthetic_frame(contract, 5).head(0))


def test_categorical_features_accept_known_values_and_nulls_where_nullable() -> None:
    (plan,) = MIXED.categorical
    frame = synthetic_frame(MIXED, 20)
    frame.loc[0, plan.name] = None
    checked = MIXED.validate_frame(frame, source="x", with_target=True)
    assert checked[plan.name].isna().sum() == frame[plan.name].isna().sum() >= 1
    assert set(checked[plan.name].dropna()) <= set(plan.categories)


def test_unknown_categories_and_non_numbers_are_counted() -> None:
    (plan,), (number,), target = MIXED.categorical, MIXED.numeric, MIXED.target
    assert isinstance(target, CategoricalTarget)
    frame = synthetic_frame(MIXED, 6).astype({number.name: object})
    frame.loc[0:2, plan.name] = "enterprise"
    frame.loc[3, number.name] = "long"
    frame.loc[4, target.name] = "maybe"
    assert problems_of(MIXED, frame) == {
        Problem(plan.name, f"must be one of {plan.categories}", 3),
        Problem(number.name, "must be a number", 1),
        Problem(target.name, f"target must be one of {target.classes}", 1),
    }


@pytest.mark.parametrize(
    ("make", "rule", "rows"),
    [
        (lambda column: column > column.median(), "must be a number, not true/false (a boolean column)", 6),
        (lambda column: column.astype(object).where(column.index != 2, True), "must be a number, not true/false", 1),
        (lambda column: column.round(1).astype(str), "must be a number, not text (store the column as numbers)", 6),
        (lambda column: pd.to_datetime(column, unit="D"), "must be a number, not datetime64[ns] values", 6),
    ],
    ids=["bool-column", "a-bool-among-numbers", "numbers-as-text", "dates"],
)
def test_a_numeric_feature_is_checked_by_type_not_only_by_parsing(
    make: Callable[[pd.Series], pd.Series], rule: str, rows: int
) -> None:
    """Parquet keeps types: pandas would read true/false as 1/0, text as its numbers and dates as nanoseconds."""
    (number,) = MIXED.numeric
    frame = synthetic_frame(MIXED, 6)
    frame[number.name] = make(frame[number.name])
    assert problems_of(MIXED, frame) == {Problem(number.name, rule, rows)}  # no range noise from coerced values


def test_a_boolean_numeric_target_is_refused() -> None:
    frame = synthetic_frame(REGRESSION, 4)
    frame[REGRESSION.target.name] = [True, False, True, True]
    assert problems_of(REGRESSION, frame) == {
        Problem("price", "target must be a number, not true/false (a boolean column)", 4)
    }


def test_a_repeated_column_is_refused_before_any_rule(contract: Contract) -> None:
    frame = synthetic_frame(contract, 3)
    first = contract.feature_names[0]
    doubled = pd.concat([frame, frame[[first]]], axis=1)
    with pytest.raises(
        DataError, match=rf"^upload: duplicate column names {re.escape(str([first]))}: rename or drop the copies$"
    ):
        contract.validate_frame(doubled, source="upload", with_target=True)


def test_type_checks_leave_ranges_and_categories_to_the_drift_report() -> None:
    (plan,), (number,) = MIXED.categorical, MIXED.numeric
    frame = synthetic_frame(MIXED, 6).astype({number.name: object})
    frame.loc[0, number.name] = 10_000.0  # above the max: a drift check measures it, it does not refuse it
    frame.loc[1, plan.name] = "enterprise"
    assert MIXED.check_types(frame) == []
    frame.loc[2, number.name] = None
    frame.loc[3, number.name] = "twelve"
    assert MIXED.check_types(frame) == [
        Problem(number.name, "must not be null", 1),
        Problem(number.name, "must be a number", 1),
    ]


def test_the_error_message_lists_every_problem(contract: Contract) -> None:
    names = contract.feature_names[:2]
    frame = synthetic_frame(contract, 4).drop(columns=names)
    with pytest.raises(ContractViolationError) as caught:
        contract.validate_frame(frame, source="upload.csv", with_target=True)
    message = str(caught.value)
    assert message.startswith(f"upload.csv breaks the data contract ({len(names)} problems):")
    for name in names:
        assert f"  - {name}: required column is missing (4 rows)" in message


def load_text(tmp_path: Path, text: str) -> Contract:
    path = tmp_path / "contract.yaml"
    path.write_text(text)
    return load_contract(path)


FEATURES = "features: [{name: x, type: numeric}]"


def contract_yaml(target: str) -> str:
    """A contract of one numeric feature and ``target`` (concatenated: the template engine reads double braces)."""
    return "target: " + target + "\n" + FEATURES


@pytest.mark.parametrize(
    ("target", "key"),
    [
        ("{name: y, classes: [No, Yes]}", "classes"),
        ("{name: y, classes: [off, on]}", "classes"),
        ("{name: y, classes: [0, 1], positive_class: yes}", "positive_class"),
    ],
)
def test_yaml_booleans_as_classes_are_refused_with_the_quoting_hint(tmp_path: Path, target: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, contract_yaml(target))
    assert f"target.categorical.{key}: Value error, {YAML_BOOLEAN_HINT}" in str(caught.value)


def test_quoted_classes_load_as_strings(tmp_path: Path) -> None:
    contract = load_text(tmp_path, contract_yaml("{name: y, classes: ['No', 'Yes']}"))
    assert contract.target.classes == ["No", "Yes"]  # type: ignore[union-attr]
    assert contract.target.positive == "Yes"  # type: ignore[union-attr]


def test_a_contract_without_a_target_type_is_a_classification(tmp_path: Path) -> None:
    contract = load_text(tmp_path, contract_yaml("{name: y, classes: [0, 1], positive_class: 0}"))
    assert isinstance(contract.target, CategoricalTarget)
    assert (contract.task, contract.target.positive) == ("classification", 0)


def test_a_numeric_target_makes_a_regression(tmp_path: Path) -> None:
    contract = load_text(tmp_path, contract_yaml("{name: y, type: numeric, min: 0}"))
    assert isinstance(contract.target, NumericTarget)
    assert (contract.task, contract.target.min, contract.target.max) == ("regression", 0, None)


def test_several_classes_have_no_positive_class() -> None:
    assert CategoricalTarget(name="y", classes=["a", "b", "c"]).positive is None
    assert CategoricalTarget(name="y", classes=[1, 0]).positive == 0  # the last class, in the contract's order


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (contract_yaml("{name: y, type: text}"), "target: type must be categorical or numeric"),
        (contract_yaml("{name: y, classes: [0]}"), r"target\.categorical\.classes"),
        (contract_yaml("{name: y, type: numeric, classes: [0, 1]}"), r"target\.numeric\.classes: Extra inputs"),
        (contract_yaml("{name: y, type: numeric, min: 5, max: 1}"), "min .* greater"),
        ("target: {name: y, classes: [0, 1]}\nfeatures: [{name: x, type: text}]", r"features\.0"),
        ("target: {name: y, classes: [0, 1]}\nfeatures: [{name: x, type: numeric, min: 2, max: 1}]", "min .* greater"),
        ("target: {name: y, classes: [0, 1]}\nfeatures: [{name: y, type: numeric}]", "also listed as a feature"),
        (
            "target: {name: y, classes: [0, 1]}\nfeatures: [{name: x, type: numeric}, {name: x, type: numeric}]",
            "must be unique",
        ),
        (contract_yaml("{name: y, classes: [0, 1, 0]}"), "classes must be unique"),
        (contract_yaml("{name: y, classes: [0, 1], positive_class: 2}"), "positive_class"),
        ("- not\n- a mapping\n", "expected a mapping with 'target' and 'features'"),
        (contract_yaml("{name: y, classes: [0, 1]}") + "\nid_column: ''\n", r"id_column: String should have at least"),
        (contract_yaml("{name: y, classes: [0, 1]}") + "\nid_column: y\n", "id_column 'y' is also a feature or"),
    ],
)
def test_a_bad_contract_file_names_the_entry(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_text(tmp_path, text)


def test_an_id_column_is_optional_and_never_a_feature(tmp_path: Path, contract: Contract) -> None:
    identified = Contract.model_validate(contract.model_dump() | {"id_column": "request id"})
    frame = synthetic_frame(contract, 20, seed=3)
    with_ids = frame.assign(**{"request id": [f"r{i}" for i in range(20)]})
    checked = identified.validate_frame(with_ids, source="t", with_target=True)
    pd.testing.assert_frame_equal(checked, contract.validate_frame(frame, source="t", with_target=True))
    assert identified.feature_names == contract.feature_names
    assert "id_column" not in contract.model_dump(exclude_none=True)  # what a model version stores: unchanged
    assert load_text(tmp_path, contract_yaml("{name: y, classes: [0, 1]}") + "\nid_column: order_id\n").id_column == (
        "order_id"
    )
