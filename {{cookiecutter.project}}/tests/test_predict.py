"""Batch prediction: every input column kept, the model's outputs added, and nothing written on failure."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import Contract, ContractViolationError, Problem
from {{ cookiecutter.package }}.data import read_table, write_table
from {{ cookiecutter.package }}.errors import DataError
from {{ cookiecutter.package }}.evaluation import score
from {{ cookiecutter.package }}.model import MODEL_VERSION, PREDICTION, Model
from {{ cookiecutter.package }}.predict import predict_file, predict_frame
from {{ cookiecutter.package }}.settings import Settings

from .support import break_first_feature, passing_objectives


@pytest.fixture(scope="module")
def model(trained: tuple[Settings, str]) -> Model:
    return registry.load(*trained)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predictions_keep_every_input_column_and_name_the_model(
    trained: tuple[Settings, str], model: Model, frame: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    settings, tag = trained
    source = frame.head(50).assign(row_id=[f"r{i}" for i in range(50)])
    write_table(source, tmp_path / f"in{suffix}")
    result = predict_file(settings, tmp_path / f"in{suffix}", tmp_path / f"out{suffix}", tag)
    scored = read_table(tmp_path / f"out{suffix}")
    assert (result.tag, result.rows, result.output) == (tag, 50, tmp_path / f"out{suffix}")
    assert list(scored.columns) == [*source.columns, *model.output_columns]
    as_read = read_table(tmp_path / f"in{suffix}")  # CSV text may not give back the very same floats, or None
    pd.testing.assert_frame_equal(scored[source.columns], as_read)
    assert set(scored[MODEL_VERSION]) == {tag}
    expected = model.predict_frame(model.contract.coerce_features(as_read))
    assert scored[PREDICTION].tolist() == pytest.approx(expected.values)
    if expected.probabilities is not None:
        np.testing.assert_allclose(scored[model.probability_columns].to_numpy(), expected.probabilities, atol=1e-9)
        np.testing.assert_allclose(scored[model.probability_columns].sum(axis=1), 1)


def test_batch_predictions_are_as_good_as_the_gate_asked(model: Model, contract: Contract, frame: pd.DataFrame) -> None:
    scored = predict_frame(frame.drop(columns=contract.target.name), model, source="frame")
    assert scored.index.equals(frame.index)
    predictions = model.predict_frame(contract.coerce_features(frame))
    assert scored[PREDICTION].tolist() == pytest.approx(predictions.values)
    metrics = score(model, contract.coerce_features(frame), contract.coerce_target(frame[contract.target.name]))
    for limit in passing_objectives(contract).limits():  # the objectives the model was trained under
        assert limit.met(metrics[limit.metric]), limit.miss(metrics[limit.metric])


def test_the_input_index_and_order_are_kept(model: Model, contract: Contract, frame: pd.DataFrame) -> None:
    rows = frame.head(10).iloc[::-1].set_axis([f"k{i}" for i in range(10)])
    scored = predict_frame(rows, model, source="rows")
    assert list(scored.index) == list(rows.index)
    one_by_one = [predict_frame(rows.iloc[[i]], model, source="row")[PREDICTION].iloc[0] for i in range(10)]
    assert scored[PREDICTION].tolist() == pytest.approx(one_by_one)


def test_bad_rows_write_no_output(
    trained: tuple[Settings, str], contract: Contract, frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    broken, problem = break_first_feature(frame.head(5), contract, rows=5)
    write_table(broken, tmp_path / "in.csv")
    with pytest.raises(ContractViolationError) as caught:
        predict_file(settings, tmp_path / "in.csv", tmp_path / "out.csv", tag)
    assert caught.value.problems == [problem]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_an_existing_output_is_untouched_when_prediction_fails(
    trained: tuple[Settings, str], contract: Contract, frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    (tmp_path / "out.csv").write_text("previous run\n")
    missing = contract.feature_names[-1]
    write_table(frame.head(5).drop(columns=missing), tmp_path / "in.csv")
    with pytest.raises(ContractViolationError, match=f"{missing}: required column is missing"):
        predict_file(settings, tmp_path / "in.csv", tmp_path / "out.csv", tag)
    assert (tmp_path / "out.csv").read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_the_target_is_not_needed_to_predict(
    trained: tuple[Settings, str], contract: Contract, frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    write_table(frame.head(5).drop(columns=contract.target.name), tmp_path / "in.csv")
    assert predict_file(settings, tmp_path / "in.csv", tmp_path / "out.csv", tag).rows == 5


@pytest.mark.parametrize(
    ("output", "message"),
    [("in.csv", "must not overwrite the input"), ("out.xlsx", "unsupported file type '.xlsx'")],
)
def test_bad_output_paths_are_refused_first(
    trained: tuple[Settings, str], frame: pd.DataFrame, tmp_path: Path, output: str, message: str
) -> None:
    settings, tag = trained
    write_table(frame.head(5), tmp_path / "in.csv")
    with pytest.raises(DataError, match=message):
        predict_file(settings, tmp_path / "in.csv", tmp_path / output, tag)


def test_an_input_column_named_like_an_output_is_refused(
    trained: tuple[Settings, str], model: Model, frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    clashing = model.output_columns[-2]  # the last probability column, or the prediction for regression
    write_table(frame.head(5).assign(**{clashing: 1}), tmp_path / "in.csv")
    with pytest.raises(DataError, match=rf"already has the output column\(s\) \['{clashing}'\]"):
        predict_file(settings, tmp_path / "in.csv", tmp_path / "out.csv", tag)
    assert not (tmp_path / "out.csv").exists()


def test_a_parquet_column_of_the_wrong_type_is_refused(
    trained: tuple[Settings, str], contract: Contract, frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Parquet keeps a column's type: true/false for a number is refused, not scored as 1/0."""
    if not contract.numeric:
        pytest.skip("the contract has no numeric feature")
    settings, tag = trained
    number = contract.numeric[0].name
    rows = frame.head(5).assign(**{number: [True, False, True, True, False]})
    write_table(rows, tmp_path / "in.parquet")
    with pytest.raises(ContractViolationError) as caught:
        predict_file(settings, tmp_path / "in.parquet", tmp_path / "out.parquet", tag)
    assert caught.value.exit_code == 2
    assert caught.value.problems == [Problem(number, "must be a number, not true/false (a boolean column)", 5)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_a_repeated_feature_column_is_refused_not_renamed(
    trained: tuple[Settings, str], contract: Contract, frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    first = contract.feature_names[0]
    copied = frame.head(3).assign(copy=frame[first])
    copied.to_csv(tmp_path / "in.csv", index=False, header=[*frame.columns, first])  # the copy under the same name
    with pytest.raises(DataError, match=rf"in\.csv: duplicate column names {re.escape(str([first]))}"):
        predict_file(settings, tmp_path / "in.csv", tmp_path / "out.csv", tag)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_read_in_chunks_gives_the_predictions_of_the_whole_table(
    trained: tuple[Settings, str], model: Model, frame: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    settings, tag = trained
    source = frame.head(100).assign(row_id=[f"r{i}" for i in range(100)])
    write_table(source, tmp_path / f"in{suffix}")
    result = predict_file(settings, tmp_path / f"in{suffix}", tmp_path / f"out{suffix}", tag, chunk_rows=7)
    whole = predict_frame(read_table(tmp_path / f"in{suffix}"), model, source="whole")
    assert result.rows == 100
    pd.testing.assert_frame_equal(read_table(tmp_path / f"out{suffix}"), whole, check_exact=False)


def test_problems_are_counted_over_every_chunk_and_no_output_is_written(
    trained: tuple[Settings, str], contract: Contract, frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Chunks of 4 rows; bad rows in the first, third and last chunks: one problem, its rows summed."""
    settings, tag = trained
    broken, problem = break_first_feature(frame.head(20), contract, rows=20)
    rows = frame.head(20).astype({problem.column: object})
    bad = [1, 9, 10, 19]
    rows.loc[rows.index[bad], problem.column] = broken.loc[broken.index[bad], problem.column]
    write_table(rows, tmp_path / "in.csv")
    with pytest.raises(ContractViolationError) as caught:
        predict_file(settings, tmp_path / "in.csv", tmp_path / "out.csv", tag, chunk_rows=4)
    assert caught.value.problems == [Problem(problem.column, problem.rule, len(bad))]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_missing_column_counts_every_row_of_every_chunk(
    trained: tuple[Settings, str], contract: Contract, frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    missing = contract.feature_names[0]
    write_table(frame.head(10).drop(columns=missing), tmp_path / "in.parquet")
    with pytest.raises(ContractViolationError) as caught:
        predict_file(settings, tmp_path / "in.parquet", tmp_path / "out.parquet", tag, chunk_rows=3)
    assert caught.value.problems == [Problem(missing, "required column is missing", 10)]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_without_rows_is_refused(
    trained: tuple[Settings, str], frame: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    settings, tag = trained
    write_table(frame.head(0), tmp_path / f"in{suffix}")
    with pytest.raises(ContractViolationError) as caught:
        predict_file(settings, tmp_path / f"in{suffix}", tmp_path / f"out{suffix}", tag)
    assert caught.value.problems == [Problem("(table)", "has no rows", 0)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"in{suffix}"]


def test_csv_columns_inferred_differently_per_chunk_still_make_one_parquet_file(
    trained: tuple[Settings, str], frame: pd.DataFrame, tmp_path: Path
) -> None:
    """An extra column of whole numbers in the first chunk and a gap later (read as floats) is cast back."""
    settings, tag = trained
    rows = frame.head(6).assign(count=pd.array([1, 2, 3, 4, None, 6], dtype="Int64"))
    write_table(rows, tmp_path / "in.csv")
    predict_file(settings, tmp_path / "in.csv", tmp_path / "out.parquet", tag, chunk_rows=3)
    assert read_table(tmp_path / "out.parquet")["count"].tolist()[:4] == [1, 2, 3, 4]


def test_a_csv_column_that_turns_from_numbers_to_text_is_named_for_parquet_output(
    trained: tuple[Settings, str], frame: pd.DataFrame, tmp_path: Path
) -> None:
    settings, tag = trained
    write_table(frame.head(6).assign(note=[1, 2, 3, "x", "y", "z"]), tmp_path / "in.csv")
    with pytest.raises(DataError, match=r"column\(s\) \['note'\] change type between the first rows and later ones"):
        predict_file(settings, tmp_path / "in.csv", tmp_path / "out.parquet", tag, chunk_rows=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    assert predict_file(settings, tmp_path / "in.csv", tmp_path / "out.csv", tag, chunk_rows=3).rows == 6
