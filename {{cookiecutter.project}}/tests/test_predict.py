"""Batch prediction: every input column kept, the model's outputs added, and nothing written on failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import Contract, ContractViolationError
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
