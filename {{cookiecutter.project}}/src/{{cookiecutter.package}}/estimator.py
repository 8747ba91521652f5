"""The estimator named by ``training.estimator`` and the pipeline around it, suited to what it handles.

Any scikit-learn compatible estimator works (scikit-learn's own, or a package with its API such as
LightGBM once it is installed). The pipeline takes the contract's raw features as one matrix in
contract order (numbers, and strings for categorical features), so batch prediction and the
service feed it the same way:

- an estimator with native categorical support (a ``categorical_features`` parameter, as
  HistGradientBoosting has) gets the raw features and is told which columns are categorical;
  missing and unseen values are its own concern;
- any other estimator gets standardised numbers (needed by linear models, SVMs, k-NN and neural
  networks, harmless for trees) with missing numbers imputed by the median unless it accepts NaN,
  and one-hot categories from the contract (missing and unseen values encode as all zeros).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from sklearn.base import BaseEstimator, clone, is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import get_tags

from .contract import Contract
from .errors import ConfigError
from .settings import TrainingSettings

DEFAULT_ESTIMATORS = {
    "classification": "sklearn.ensemble:HistGradientBoostingClassifier",
    "regression": "sklearn.ensemble:HistGradientBoostingRegressor",
}
PREPROCESS, ESTIMATOR = "preprocess", "estimator"  # the pipeline's two steps


def estimator_path(training: TrainingSettings, task: str) -> str:
    """The ``module:Class`` that will be fitted: the setting, else the task's default."""
    return training.estimator or DEFAULT_ESTIMATORS[task]


def resolve(path: str) -> type[BaseEstimator]:
    """Import the estimator class; a path that does not resolve is a ConfigError with the fix."""
    module_name, _, class_name = path.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"training.estimator: cannot import {path!r} ({exc}); expected 'module:Class', e.g. "
            "'sklearn.ensemble:RandomForestClassifier' (add the package with `uv add` if it is not scikit-learn)"
        ) from None
    if not inspect.isclass(found) or not hasattr(found, "fit") or not hasattr(found, "get_params"):
        raise ConfigError(f"training.estimator: {path!r} is not a scikit-learn compatible estimator class")
    return found


def make_estimator(training: TrainingSettings, task: str) -> BaseEstimator:
    """The configured estimator with ``training.params``, checked against the task; ConfigError otherwise."""
    path = estimator_path(training, task)
    cls = resolve(path)
    valid = sorted(_build(cls, path, {}).get_params(deep=False))
    unknown = sorted(set(training.params) - set(valid))
    if unknown:
        verb = "is not a parameter" if len(unknown) == 1 else "are not parameters"
        raise ConfigError(f"training.params: {', '.join(unknown)} {verb} of {path}; valid: {', '.join(valid)}")
    params = dict(training.params)
    if "random_state" in valid:
        params.setdefault("random_state", training.random_state)
    estimator = _build(cls, path, params)
    if task == "classification" and not is_classifier(estimator):
        raise ConfigError(
            f"training.estimator: {path} is not a classifier, but the target is categorical: "
            "choose a classifier (e.g. sklearn.ensemble:HistGradientBoostingClassifier) or make the target numeric"
        )
    if task == "regression" and not is_regressor(estimator):
        raise ConfigError(
            f"training.estimator: {path} is not a regressor, but the target is numeric: "
            "choose a regressor (e.g. sklearn.ensemble:HistGradientBoostingRegressor) or make the target categorical"
        )
    if task == "classification" and not hasattr(estimator, "predict_proba"):
        raise ConfigError(
            f"training.estimator: {path} has no predict_proba with these parameters, and every answer carries "
            "class probabilities: choose a classifier that has it (e.g. sklearn.linear_model:LogisticRegression "
            "or sklearn.ensemble:RandomForestClassifier)"
        )
    return estimator


def _build(cls: type[BaseEstimator], path: str, params: dict[str, Any]) -> BaseEstimator:
    """``cls(**params)``; a class needing other arguments (a meta-estimator's ``estimator``) is a ConfigError."""
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"training.estimator: {path} cannot be built from training.params ({exc}); "
            "choose an estimator whose parameters are plain values"
        ) from None


def native_categorical(estimator: BaseEstimator) -> bool:
    """Whether the estimator takes categorical columns as they are (it has ``categorical_features``)."""
    return "categorical_features" in estimator.get_params(deep=False)


def build_pipeline(contract: Contract, estimator: BaseEstimator) -> Pipeline:
    """Preprocessing suited to ``estimator``, then the estimator; input: the raw feature matrix."""
    numeric = [i for i, feature in enumerate(contract.features) if feature.type == "numeric"]
    categorical = [i for i, feature in enumerate(contract.features) if feature.type == "categorical"]
    estimator = clone(estimator)
    if native_categorical(estimator):
        if categorical:
            estimator.set_params(categorical_features=[i in categorical for i in range(len(contract.features))])
        return Pipeline([(PREPROCESS, "passthrough"), (ESTIMATOR, estimator)])
    nullable = any(contract.features[i].nullable for i in numeric)
    number_steps: list[Any] = []
    if nullable and not get_tags(estimator).input_tags.allow_nan:
        number_steps.append(SimpleImputer(strategy="median"))
    number_steps.append(StandardScaler())
    encoder = OneHotEncoder(
        categories=[contract.features[i].categories for i in categorical],  # type: ignore[union-attr]
        handle_unknown="ignore",
        sparse_output=False,
    )
    preprocess = ColumnTransformer(
        [("numeric", make_pipeline(*number_steps), numeric), ("categorical", encoder, categorical)],
        sparse_threshold=0,
    )
    return Pipeline([(PREPROCESS, preprocess), (ESTIMATOR, estimator)])
