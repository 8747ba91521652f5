from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package }}.contract import Contract, ContractViolationError, Problem, load_contract
from {{ cookiecutter.package }}.errors import ConfigError

from .support import MIXED, mixed_frame


def problems_of(contract: Contract, frame: pd.DataFrame, *, with_target: bool = True) -> set[Problem]:
    with pytest.raises(ContractViolationError) as caught:
        contract.validate_frame(frame, source="frame", with_target=with_target)
    return set(caught.value.problems)


def test_the_default_data_satisfies_the_shipped_contract(contract: Contract, breast_cancer: pd.DataFrame) -> None:
    checked = contract.validate_frame(breast_cancer, source="default", with_target=True)
    assert list(checked.columns) == [*contract.feature_names, "malignant"]
    assert len(checked) == 569


def test_every_numeric_problem_is_counted_by_column_and_rule(contract: Contract, breast_cancer: pd.DataFrame) -> None:
    frame = breast_cancer.head(10).astype({"mean_radius": object}).copy()
    frame.loc[0:1, "mean_radius"] = -1.0
    frame.loc[2, "mean_radius"] = "twelve"
    frame.loc[3:5, "mean_texture"] = np.nan
    frame.loc[6, "mean_area"] = 1e6
    assert problems_of(contract, frame.drop(columns="worst_symmetry")) == {
        Problem("mean_radius", "must be >= 0", 2),
        Problem("mean_radius", "must be a number", 1),
        Problem("mean_texture", "must not be null", 3),
        Problem("mean_area", "must be <= 10000", 1),
        Problem("worst_symmetry", "required column is missing", 10),
    }


def test_target_problems_are_reported_only_when_the_target_is_required(
    contract: Contract, breast_cancer: pd.DataFrame
) -> None:
    frame = breast_cancer.head(5).copy()
    frame["malignant"] = [0, 1, 2, None, 1]
    assert problems_of(contract, frame) == {
        Problem("malignant", "target must be one of [0, 1]", 1),
        Problem("malignant", "target must not be null", 1),
    }
    without_target = contract.validate_frame(frame.drop(columns="malignant"), source="x", with_target=False)
    assert list(without_target.columns) == contract.feature_names


def test_extra_columns_are_allowed_and_dropped(contract: Contract, breast_cancer: pd.DataFrame) -> None:
    frame = breast_cancer.head(3).assign(patient_id=["a", "b", "c"])
    assert "patient_id" not in contract.validate_frame(frame, source="x", with_target=True).columns


def test_an_empty_table_is_refused(contract: Contract, breast_cancer: pd.DataFrame) -> None:
    assert Problem("(table)", "has no rows", 0) in problems_of(contract, breast_cancer.head(0))


def test_categorical_features_accept_known_values_and_nulls_where_nullable() -> None:
    frame = mixed_frame(5)
    frame.loc[0, "plan"] = None
    checked = MIXED.validate_frame(frame, source="x", with_target=True)
    assert checked["plan"].isna().sum() == 1
    assert set(checked["plan"].dropna()) <= {"basic", "pro", "team"}


def test_unknown_categories_and_non_numbers_are_counted() -> None:
    frame = mixed_frame(6)
    frame.loc[0:2, "plan"] = "enterprise"
    frame["tenure_months"] = frame["tenure_months"].astype(object)
    frame.loc[3, "tenure_months"] = "long"
    frame.loc[4, "churned"] = "maybe"
    assert problems_of(MIXED, frame) == {
        Problem("plan", "must be one of ['basic', 'pro', 'team']", 3),
        Problem("tenure_months", "must be a number", 1),
        Problem("churned", "target must be one of ['no', 'yes']", 1),
    }


def test_the_error_message_lists_every_problem(contract: Contract, breast_cancer: pd.DataFrame) -> None:
    frame = breast_cancer.head(4).drop(columns=["mean_radius", "mean_area"])
    with pytest.raises(ContractViolationError) as caught:
        contract.validate_frame(frame, source="upload.csv", with_target=True)
    message = str(caught.value)
    assert message.startswith("upload.csv breaks the data contract (2 problems):")
    assert "mean_radius: required column is missing (4 rows)" in message
    assert "mean_area: required column is missing (4 rows)" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("target: {name: y, classes: [0]}\nfeatures: [{name: x, type: numeric}]", r"target\.classes"),
        ("target: {name: y, classes: [0, 1]}\nfeatures: [{name: x, type: text}]", r"features\.0"),
        ("target: {name: y, classes: [0, 1]}\nfeatures: [{name: x, type: numeric, min: 2, max: 1}]", "min .* greater"),
        ("target: {name: y, classes: [0, 1]}\nfeatures: [{name: y, type: numeric}]", "also listed as a feature"),
        (
            "target: {name: y, classes: [0, 1]}\nfeatures: [{name: x, type: numeric}, {name: x, type: numeric}]",
            "must be unique",
        ),
        (
            "target: {name: y, classes: [0, 1], positive_class: 2}\nfeatures: [{name: x, type: numeric}]",
            "positive_class",
        ),
    ],
)
def test_a_bad_contract_file_names_the_entry(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "contract.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_contract(path)
