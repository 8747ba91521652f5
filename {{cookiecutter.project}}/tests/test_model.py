"""The loaded model: one input matrix from frames and records alike, and the output of each task."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import write_table
from {{ cookiecutter.package }}.errors import DataError
from {{ cookiecutter.package }}.estimator import build_pipeline
from {{ cookiecutter.package }}.model import MODEL_VERSION, PREDICTION, RUNTIME, Model
from {{ cookiecutter.package }}.settings import Settings, TrainingSettings
from {{ cookiecutter.package }}.train import train

from .support import MIXED, MULTICLASS, REGRESSION, passing_objectives, records_of, settings_in, synthetic_frame

ROWS = 300  # of each model's synthetic training data


def load_trained(folder: Path, contract: Contract, name: str, estimator: str | None = None) -> Model:
    """A model of ``contract`` trained on ROWS synthetic rows with ``estimator`` (default: the task's), loaded."""
    training = TrainingSettings(estimator=estimator)
    settings = settings_in(folder, model_name=name, objectives=passing_objectives(contract), training=training)
    write_table(synthetic_frame(contract, ROWS), settings.data_path)
    return registry.load(settings, train(settings, contract))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """HistGradientBoosting with native categories, on string classes and a nullable category."""
    return load_trained(tmp_path_factory.mktemp("mixed"), MIXED, "model-mixed")


@pytest.fixture(scope="module")
def mixed_one_hot(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """Logistic regression on the same contract: scaled numbers and one-hot categories."""
    return load_trained(
        tmp_path_factory.mktemp("one-hot"), MIXED, "model-one-hot", "sklearn.linear_model:LogisticRegression"
    )


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory: pytest.TempPathFactory) -> Model:
    return load_trained(tmp_path_factory.mktemp("multiclass"), MULTICLASS, "model-multiclass")


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> Model:
    return load_trained(tmp_path_factory.mktemp("regression"), REGRESSION, "model-regression")


@pytest.fixture(scope="module")
def project(trained: tuple[Settings, str]) -> Model:
    """The model of the project's own contract."""
    return registry.load(*trained)


def unseen_rows(contract: Contract, rows: int = 120) -> pd.DataFrame:
    """Rows the model was not trained on (of another concept: only the shape matters here)."""
    return synthetic_frame(contract, rows, seed=5)


@pytest.mark.parametrize("which", ["mixed", "mixed_one_hot"])
def test_records_frames_and_the_raw_pipeline_give_the_same_answers(which: str, request: pytest.FixtureRequest) -> None:
    model: Model = request.getfixturevalue(which)
    frame = unseen_rows(MIXED)
    assert frame[[f.name for f in MIXED.features if f.nullable]].isna().any().all()
    records = records_of(frame, MIXED)
    (number,) = MIXED.numeric
    for record in records[::3]:  # JSON clients send whole numbers as integers
        record[number.name] = round(record[number.name])
    features = MIXED.validate_frame(pd.DataFrame(records), source="records", with_target=False)

    by_records = model.predict_records(records)
    by_frame = model.predict_frame(features)
    raw = np.array([[record[name] for name in MIXED.feature_names] for record in records], dtype=object)

    assert by_records.values == by_frame.values
    assert by_records.probabilities is not None
    assert by_frame.probabilities is not None
    np.testing.assert_allclose(by_records.probabilities, by_frame.probabilities, rtol=0, atol=1e-12)
    np.testing.assert_allclose(by_records.probabilities, model.pipeline.predict_proba(raw), rtol=0, atol=1e-12)
    assert by_records.values == list(model.pipeline.predict(raw))


@pytest.mark.parametrize("which", ["mixed", "mixed_one_hot", "multiclass", "regression"])
def test_records_with_every_nullable_feature_missing_are_answered_as_frames_are(
    which: str, request: pytest.FixtureRequest
) -> None:
    model: Model = request.getfixturevalue(which)
    contract = model.contract
    nulls = {feature.name: None for feature in contract.features if feature.nullable}
    records = [record | nulls for record in records_of(unseen_rows(contract, 10), contract)]
    by_records = model.predict_records(records)
    features = contract.validate_frame(pd.DataFrame(records), source="records", with_target=False)
    by_frame = model.predict_frame(features)
    if model.task == "regression":
        assert by_records.values == pytest.approx(by_frame.values)
        return
    assert by_records.values == by_frame.values
    assert set(by_records.values) <= set(contract.target.classes)  # type: ignore[union-attr]
    assert by_records.probabilities is not None
    assert by_frame.probabilities is not None
    np.testing.assert_allclose(by_records.probabilities, by_frame.probabilities)


@pytest.mark.parametrize("which", ["mixed", "multiclass"])
def test_a_predicted_class_is_the_most_probable_one(which: str, request: pytest.FixtureRequest) -> None:
    model: Model = request.getfixturevalue(which)
    contract = model.contract
    predictions = model.predict_frame(contract.coerce_features(unseen_rows(contract)))
    assert predictions.probabilities is not None
    assert predictions.values == [model.classes[i] for i in predictions.probabilities.argmax(axis=1)]
    assert set(predictions.values) <= set(contract.target.classes)  # type: ignore[union-attr]
    np.testing.assert_allclose(predictions.probabilities.sum(axis=1), 1)


def test_classes_are_the_contracts_in_plain_python_types(
    mixed: Model, multiclass: Model, regression: Model, project: Model
) -> None:
    for model in (mixed, multiclass, project):
        if model.task == "classification":
            assert model.classes == sorted(model.contract.target.classes)  # type: ignore[union-attr]
            json.dumps(model.classes)  # numpy scalars would not serialise
            assert all(type(label) in (int, str) for label in model.classes)
    assert (regression.classes, regression.probability_columns, regression.positive_class) == ([], [], None)
    assert mixed.positive_class == MIXED.target.positive_class  # type: ignore[union-attr]
    assert multiclass.positive_class is None


def test_output_columns_follow_the_task(mixed: Model, multiclass: Model, regression: Model, project: Model) -> None:
    assert mixed.output_columns == [PREDICTION, "probability_no", "probability_yes", MODEL_VERSION]
    assert multiclass.output_columns == [PREDICTION, "probability_a", "probability_b", "probability_c", MODEL_VERSION]
    assert regression.output_columns == [PREDICTION, MODEL_VERSION]
    expected = [f"probability_{label}" for label in project.classes]
    assert project.output_columns == [PREDICTION, *expected, MODEL_VERSION]
    assert len(expected) == (len(project.contract.target.classes) if project.task == "classification" else 0)  # type: ignore[union-attr]


@pytest.mark.parametrize("which", ["mixed", "multiclass", "regression", "project"])
def test_the_output_frame_has_the_output_columns_on_the_input_index(which: str, request: pytest.FixtureRequest) -> None:
    model: Model = request.getfixturevalue(which)
    frame = synthetic_frame(model.contract, 20, seed=2)
    frame.index = pd.RangeIndex(100, 120)
    outputs = model.output_frame(model.predict_frame(model.contract.coerce_features(frame)), frame.index)
    assert list(outputs.columns) == model.output_columns
    assert outputs.index.equals(frame.index)
    assert set(outputs[MODEL_VERSION]) == {model.tag}
    if model.task == "classification":
        np.testing.assert_allclose(outputs[model.probability_columns].sum(axis=1), 1)
    else:
        assert outputs[PREDICTION].dtype == np.float64


def test_regression_predicts_numbers_without_probabilities(regression: Model) -> None:
    frame = synthetic_frame(REGRESSION, ROWS)  # the rows it was trained and tested on
    predictions = regression.predict_records(records_of(frame, REGRESSION))
    assert predictions.probabilities is None
    assert len(predictions) == len(frame)
    assert all(type(value) is float for value in predictions.values)
    correlation = np.corrcoef(predictions.values, frame[REGRESSION.target.name])[0, 1]
    assert correlation > 0.5  # the model learned the rows' concept, not a constant


def test_classification_answers_carry_probabilities_keyed_by_class(mixed: Model) -> None:
    predictions = mixed.predict_records(records_of(unseen_rows(MIXED, 5), MIXED))
    answers = mixed.answers(predictions)
    assert len(answers) == 5
    for answer, value in zip(answers, predictions.values, strict=True):
        assert answer.keys() == {PREDICTION, "probabilities", MODEL_VERSION}
        assert answer[PREDICTION] == value
        assert answer[MODEL_VERSION] == mixed.tag
        assert list(answer["probabilities"]) == ["no", "yes"]
        assert max(answer["probabilities"], key=answer["probabilities"].get) == value
        assert sum(answer["probabilities"].values()) == pytest.approx(1)
    json.dumps(answers)


def test_regression_answers_are_a_number_and_the_version(regression: Model) -> None:
    predictions = regression.predict_records(records_of(unseen_rows(REGRESSION, 5), REGRESSION))
    answers = regression.answers(predictions)
    assert answers == [{PREDICTION: value, MODEL_VERSION: regression.tag} for value in predictions.values]
    json.dumps(answers)


@pytest.mark.parametrize("which", ["mixed", "regression"])
def test_log_rows_are_the_records_with_prediction_version_and_runtime(
    which: str, request: pytest.FixtureRequest
) -> None:
    model: Model = request.getfixturevalue(which)
    records = records_of(unseen_rows(model.contract, 4), model.contract)
    originals = [dict(record) for record in records]
    predictions = model.predict_records(records)
    rows = model.log_rows(records, predictions)
    assert rows is records  # in place: the log writes what the service already holds
    for row, original, value in zip(rows, originals, predictions.values, strict=True):
        assert row == original | {PREDICTION: value, MODEL_VERSION: model.tag, RUNTIME: model.runtime}


def test_single_threaded_sets_every_n_jobs_to_one() -> None:
    pipeline = build_pipeline(MULTICLASS, RandomForestClassifier(n_jobs=-1))
    pipeline.set_params(preprocess__n_jobs=-1)
    model = Model("test:v1", MULTICLASS, pipeline, pd.DataFrame())
    assert model.single_threaded() is model
    found = {key: value for key, value in pipeline.get_params(deep=True).items() if key.endswith("n_jobs")}
    assert found.keys() >= {"estimator__n_jobs", "preprocess__n_jobs"}
    assert set(found.values()) == {1}


def test_single_threaded_leaves_a_pipeline_without_n_jobs_alone() -> None:
    pipeline = build_pipeline(MIXED, HistGradientBoostingClassifier())
    before = pipeline.get_params(deep=True)
    Model("test:v1", MIXED, pipeline, pd.DataFrame()).single_threaded()
    assert pipeline.get_params(deep=True) == before


@pytest.mark.parametrize(
    ("columns", "clashes"),
    [
        (["id", PREDICTION], [PREDICTION]),
        (["probability_yes", "id", MODEL_VERSION], ["probability_yes", MODEL_VERSION]),
    ],
)
def test_input_holding_an_output_column_is_refused(mixed: Model, columns: list[str], clashes: list[str]) -> None:
    with pytest.raises(DataError, match=re.escape(f"upload.csv: input already has the output column(s) {clashes}")):
        mixed.check_no_clash([*MIXED.feature_names, *columns], "upload.csv")


def test_columns_that_are_no_output_of_the_model_pass(mixed: Model, regression: Model) -> None:
    mixed.check_no_clash([*MIXED.feature_names, "probability_maybe", "predictions"], "upload.csv")
    regression.check_no_clash([*REGRESSION.feature_names, "probability_yes"], "upload.csv")
