from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package }}.contract import ContractViolationError
from {{ cookiecutter.package }}.data import read_table, write_table
from {{ cookiecutter.package }}.errors import DataError
from {{ cookiecutter.package }}.predict import predict_file
from {{ cookiecutter.package }}.settings import Settings


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predictions_keep_every_input_column_and_name_the_model(
    trained: tuple[Settings, str], breast_cancer: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    settings, tag = trained
    source = breast_cancer.head(50).assign(patient_id=[f"p{i}" for i in range(50)])
    write_table(source, tmp_path / f"in{suffix}")
    result = predict_file(settings, tmp_path / f"in{suffix}", tmp_path / f"out{suffix}", tag)
    scored = read_table(tmp_path / f"out{suffix}")
    assert (result.tag, result.rows) == (tag, 50)
    assert list(scored.columns) == [*source.columns, "prediction", "probability_0", "probability_1", "model_version"]
    pd.testing.assert_frame_equal(scored[source.columns], source, check_dtype=False)
    assert set(scored["model_version"]) == {tag}
    assert (scored["prediction"] == scored["malignant"]).mean() > 0.9
    assert ((scored["probability_0"] + scored["probability_1"]).round(6) == 1).all()


def test_bad_rows_write_no_output(trained: tuple[Settings, str], breast_cancer: pd.DataFrame, tmp_path: Path) -> None:
    settings, tag = trained
    write_table(breast_cancer.head(5).assign(mean_area=-5.0), tmp_path / "in.csv")
    with pytest.raises(ContractViolationError, match=r"mean_area: must be >= 0 \(5 rows\)"):
        predict_file(settings, tmp_path / "in.csv", tmp_path / "out.csv", tag)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_an_existing_output_is_untouched_when_prediction_fails(
    trained: tuple[Settings, str], breast_cancer: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    (tmp_path / "out.csv").write_text("previous run\n")
    write_table(breast_cancer.head(5).drop(columns="mean_area"), tmp_path / "in.csv")
    with pytest.raises(ContractViolationError, match="mean_area: required column is missing"):
        predict_file(settings, tmp_path / "in.csv", tmp_path / "out.csv", tag)
    assert (tmp_path / "out.csv").read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


@pytest.mark.parametrize(
    ("output", "message"),
    [("in.csv", "must not overwrite the input"), ("out.xlsx", "unsupported file type '.xlsx'")],
)
def test_bad_output_paths_are_refused_first(
    trained: tuple[Settings, str], breast_cancer: pd.DataFrame, tmp_path: Path, output: str, message: str
) -> None:
    settings, tag = trained
    write_table(breast_cancer.head(5), tmp_path / "in.csv")
    with pytest.raises(DataError, match=message):
        predict_file(settings, tmp_path / "in.csv", tmp_path / output, tag)


def test_an_input_column_named_like_an_output_is_refused(
    trained: tuple[Settings, str], breast_cancer: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    write_table(breast_cancer.head(5).assign(prediction=1), tmp_path / "in.csv")
    with pytest.raises(DataError, match=r"already has the output column\(s\) \['prediction'\]"):
        predict_file(settings, tmp_path / "in.csv", tmp_path / "out.csv", tag)
