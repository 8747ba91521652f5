"""The estimator named by the settings, its checks against the task, and the pipeline built around it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.errors import ConfigError
from {{ cookiecutter.package }}.estimator import (
    ESTIMATOR,
    PREPROCESS,
    build_pipeline,
    estimator_path,
    make_estimator,
    native_categorical,
)
from {{ cookiecutter.package }}.model import Model
from {{ cookiecutter.package }}.settings import TrainingSettings, load_settings

from .support import MIXED, MULTICLASS, PROJECT_CONTRACT, REGRESSION, ROOT, synthetic_frame


def training(estimator: str | None = None, **params: object) -> TrainingSettings:
    return TrainingSettings(estimator=estimator, params=params)


@pytest.mark.parametrize(
    ("task", "expected"),
    [("classification", HistGradientBoostingClassifier), ("regression", HistGradientBoostingRegressor)],
)
def test_without_an_estimator_setting_each_task_gets_histgradientboosting(task: str, expected: type) -> None:
    assert type(make_estimator(training(), task)) is expected
    assert estimator_path(training(), task) == f"sklearn.ensemble:{expected.__name__}"


def test_the_shipped_estimator_setting_fits_the_shipped_contract() -> None:
    settings = load_settings(ROOT / "config" / "project.yaml")
    estimator = make_estimator(settings.training, PROJECT_CONTRACT.task)
    assert estimator.get_params() | settings.training.params == estimator.get_params()


def test_params_are_passed_and_random_state_follows_the_training_seed() -> None:
    estimator = make_estimator(
        TrainingSettings(estimator="sklearn.ensemble:RandomForestClassifier", random_state=7, params={"max_depth": 3}),
        "classification",
    )
    assert isinstance(estimator, RandomForestClassifier)
    assert (estimator.max_depth, estimator.random_state) == (3, 7)
    explicit = TrainingSettings(estimator="sklearn.linear_model:Ridge", random_state=7, params={"random_state": 1})
    assert make_estimator(explicit, "regression").random_state == 1  # an explicit parameter wins


def test_an_estimator_without_random_state_is_built_without_one() -> None:
    estimator = make_estimator(training("sklearn.neighbors:KNeighborsClassifier", n_neighbors=3), "classification")
    assert isinstance(estimator, KNeighborsClassifier)
    assert estimator.n_neighbors == 3


def test_an_unknown_parameter_is_named_with_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        make_estimator(training("sklearn.linear_model:LogisticRegression", n_trees=5), "classification")
    valid = ", ".join(sorted(LogisticRegression().get_params()))
    assert str(caught.value) == (
        f"training.params: n_trees is not a parameter of sklearn.linear_model:LogisticRegression; valid: {valid}"
    )


def test_several_unknown_parameters_are_all_named() -> None:
    with pytest.raises(ConfigError, match=r"training\.params: depth, trees are not parameters of sklearn\.ensemble"):
        make_estimator(training(None, trees=5, depth=2), "regression")


@pytest.mark.parametrize(
    "path",
    [
        "sklearn.ensemble:NoSuchForest",  # the module exists, the class does not
        "no_such_package.models:Forest",  # the module does not exist
    ],
)
def test_an_import_path_that_does_not_resolve_is_a_config_error(path: str) -> None:
    with pytest.raises(ConfigError, match=rf"training\.estimator: cannot import '{path}'.*expected 'module:Class'"):
        make_estimator(training(path), "classification")


@pytest.mark.parametrize("path", ["sklearn.ensemble:VotingClassifier", "sklearn.multiclass:OneVsRestClassifier"])
def test_an_estimator_that_needs_other_estimators_is_a_config_error(path: str) -> None:
    with pytest.raises(ConfigError, match=rf"training\.estimator: {path} cannot be built from training\.params \(.*"):
        make_estimator(training(path), "classification")


def test_a_class_that_is_no_estimator_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'collections:OrderedDict' is not a scikit-learn compatible estimator"):
        make_estimator(training("collections:OrderedDict"), "classification")


@pytest.mark.parametrize(
    ("path", "task", "message"),
    [
        ("sklearn.linear_model:Ridge", "classification", "is not a classifier, but the target is categorical"),
        ("sklearn.ensemble:RandomForestRegressor", "classification", "is not a classifier"),
        ("sklearn.linear_model:LogisticRegression", "regression", "is not a regressor, but the target is numeric"),
        ("sklearn.ensemble:HistGradientBoostingClassifier", "regression", "is not a regressor"),
    ],
)
def test_an_estimator_of_the_other_task_is_refused(path: str, task: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"training\.estimator: {path} {message}"):
        make_estimator(training(path), task)


def test_a_classifier_without_probabilities_is_refused_and_accepted_once_they_are_enabled() -> None:
    with pytest.raises(ConfigError, match=r"sklearn\.svm:SVC has no predict_proba with these parameters"):
        make_estimator(training("sklearn.svm:SVC"), "classification")
    estimator = make_estimator(training("sklearn.svm:SVC", probability=True), "classification")
    assert isinstance(estimator, SVC)
    assert hasattr(estimator, "predict_proba")


# -- the pipeline ---------------------------------------------------------------------------


def test_histgradientboosting_takes_the_raw_features_and_is_told_which_are_categorical() -> None:
    for contract in (MIXED, MULTICLASS, REGRESSION):
        pipeline = build_pipeline(contract, make_estimator(training(), contract.task))
        assert pipeline.named_steps[PREPROCESS] == "passthrough"
        assert native_categorical(pipeline.named_steps[ESTIMATOR])
        expected = [feature.type == "categorical" for feature in contract.features]
        assert pipeline.named_steps[ESTIMATOR].categorical_features == expected


def test_without_categorical_features_histgradientboosting_keeps_its_default() -> None:
    numeric_only = Contract(target=MIXED.target, features=[f for f in MIXED.features if f.type == "numeric"])
    estimator = make_estimator(training(), "classification")
    pipeline = build_pipeline(numeric_only, estimator)
    assert pipeline.named_steps[ESTIMATOR].categorical_features == estimator.categorical_features


def test_build_pipeline_leaves_the_given_estimator_unchanged() -> None:
    estimator = make_estimator(training(), "classification")
    before = estimator.get_params()
    build_pipeline(MIXED, estimator)
    assert estimator.get_params() == before


def parts(contract: Contract, path: str) -> tuple[list[type], OneHotEncoder, list[int], list[int]]:
    """The numeric steps, the encoder and the column positions of the pipeline built for ``path``."""
    pipeline = build_pipeline(contract, make_estimator(training(path), contract.task))
    preprocess = pipeline.named_steps[PREPROCESS]
    assert isinstance(preprocess, ColumnTransformer)
    (_, numbers, numeric_columns), (_, encoder, categorical_columns) = preprocess.transformers
    return [type(step) for _, step in numbers.steps], encoder, numeric_columns, categorical_columns


@pytest.mark.parametrize(
    ("contract", "path", "numeric_steps"),
    [
        # no nullable number: scaled only
        (MIXED, "sklearn.linear_model:LogisticRegression", [StandardScaler]),
        # a nullable number and an estimator refusing NaN: imputed, then scaled
        (MULTICLASS, "sklearn.linear_model:LogisticRegression", [SimpleImputer, StandardScaler]),
        (REGRESSION, "sklearn.linear_model:Ridge", [SimpleImputer, StandardScaler]),
        # a nullable number, but the estimator accepts NaN: not imputed
        (MULTICLASS, "sklearn.ensemble:RandomForestClassifier", [StandardScaler]),
        (REGRESSION, "sklearn.ensemble:RandomForestRegressor", [StandardScaler]),
    ],
)
def test_other_estimators_get_scaled_numbers_and_one_hot_categories(
    contract: Contract, path: str, numeric_steps: list[type]
) -> None:
    steps, encoder, numeric_columns, categorical_columns = parts(contract, path)
    assert steps == numeric_steps
    assert numeric_columns == [i for i, f in enumerate(contract.features) if f.type == "numeric"]
    assert categorical_columns == [i for i, f in enumerate(contract.features) if f.type == "categorical"]
    assert isinstance(encoder, OneHotEncoder)
    assert encoder.categories == [feature.categories for feature in contract.categorical]
    assert encoder.handle_unknown == "ignore"


def test_one_hot_encodes_missing_and_unseen_categories_as_all_zeros() -> None:
    pipeline = build_pipeline(
        MIXED, make_estimator(training("sklearn.linear_model:LogisticRegression"), "classification")
    )
    frame = synthetic_frame(MIXED, 100)
    model = Model("test:v1", MIXED, pipeline, frame.head(0))
    pipeline.fit(model.frame_matrix(MIXED.coerce_features(frame)), frame[MIXED.target.name].to_numpy())
    (plan,) = MIXED.categorical
    (number,) = MIXED.numeric
    rows = [{number.name: 1.0, plan.name: value} for value in (None, "unheard-of", *plan.categories)]
    encoded = pipeline[:-1].transform(model.records_matrix(rows))
    one_hot = encoded[:, 1:]  # after the one numeric column
    np.testing.assert_array_equal(one_hot, np.vstack([np.zeros((2, 3)), np.eye(3)]))
