"""The pictures of a version's hold-out set and of a drift run: per task, deterministic, small, naming their version."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package }} import plots, registry
from {{ cookiecutter.package }}.contract import CategoricalFeature, CategoricalTarget, Contract, NumericFeature
from {{ cookiecutter.package }}.model import Model
from {{ cookiecutter.package }}.settings import Settings

from .support import MIXED, MULTICLASS, REGRESSION, synthetic_frame, train_on

TAG = "plots-test:version1"
CLASSIFICATION_FILES = ["roc.svg", "precision-recall.svg", "confusion-matrix.svg", "calibration.svg"]
REGRESSION_FILES = ["predicted-vs-actual.svg", "residuals.svg"]
MAX_BYTES = 64_000  # every picture, whatever the number of rows (300 scatter points are half of it)


@pytest.fixture(scope="module")
def mixed_model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A binary model of numeric and categorical features."""
    settings, tag = train_on(tmp_path_factory.mktemp("plots"), MIXED, model_name="plots-mixed")
    return registry.load(settings, tag)


def loaded(trained: tuple[Settings, str]) -> Model:
    return registry.load(*trained)


def holdout(contract: Contract, rows: int = 300, seed: int = 5) -> tuple[pd.DataFrame, pd.Series]:
    """Labelled rows of ``contract`` drawn by the rule the models learnt (another seed than theirs)."""
    frame = synthetic_frame(contract, rows, seed)
    return frame[contract.feature_names], frame[contract.target.name]


def files(drawn: list[plots.Plot]) -> list[str]:
    return [plot["file"] for plot in drawn]


def test_a_binary_model_gets_roc_first_then_pr_confusion_calibration_and_importance(mixed_model: Model) -> None:
    drawn = plots.model_plots(mixed_model, *holdout(MIXED), tag=TAG, seed=0)
    assert files(drawn) == [*CLASSIFICATION_FILES, "permutation-importance.svg"]
    roc = drawn[0]["svg"]
    assert roc.startswith("<?xml")
    assert roc.rstrip().endswith("</svg>")
    assert "class yes (AUC " in roc  # the positive class only
    assert "class no (AUC " not in roc
    assert drawn[0]["alt"] == "ROC on the hold-out set (positive class yes)"


def test_a_multiclass_model_gets_a_curve_per_class(multiclass_model: tuple[Settings, str]) -> None:
    model = loaded(multiclass_model)
    drawn = {plot["file"]: plot for plot in plots.model_plots(model, *holdout(MULTICLASS), tag=TAG, seed=0)}
    assert list(drawn) == [*CLASSIFICATION_FILES, "permutation-importance.svg"]
    for label in ("a", "b", "c"):
        assert f"class {label} (AUC " in drawn["roc.svg"]["svg"]
        assert f"class {label} (AP " in drawn["precision-recall.svg"]["svg"]
        assert f">class {label}</text>" in drawn["calibration.svg"]["svg"]
    assert drawn["roc.svg"]["alt"] == "ROC on the hold-out set (one class vs the rest)"


def test_a_regression_model_gets_predicted_against_actual_first_then_residuals_and_importance(
    regression_model: tuple[Settings, str],
) -> None:
    drawn = plots.model_plots(loaded(regression_model), *holdout(REGRESSION), tag=TAG, seed=0)
    assert files(drawn) == [*REGRESSION_FILES, "permutation-importance.svg"]
    assert "fall in R² when the feature is shuffled" in drawn[-1]["svg"]


def test_the_same_seed_draws_the_same_bytes_and_every_picture_names_its_version(mixed_model: Model) -> None:
    features, labels = holdout(MIXED)
    first = plots.model_plots(mixed_model, features, labels, tag=TAG, seed=3)
    assert first == plots.model_plots(mixed_model, features, labels, tag=TAG, seed=3)
    other = plots.model_plots(mixed_model, features, labels, tag="plots-test:version2", seed=3)
    for plot, of_other in zip(first, other, strict=True):
        assert f"<dc:identifier>{TAG}</dc:identifier>" in plot["svg"]
        assert f">{TAG}</text>" in plot["svg"]  # visible under the title too
        assert TAG not in of_other["svg"]


@pytest.mark.slow  # three models drawn on 20,000 rows each
def test_pictures_stay_small_on_a_large_hold_out_set(
    mixed_model: Model, multiclass_model: tuple[Settings, str], regression_model: tuple[Settings, str]
) -> None:
    models = [(mixed_model, MIXED), (loaded(multiclass_model), MULTICLASS), (loaded(regression_model), REGRESSION)]
    for model, contract in models:
        for plot in plots.model_plots(model, *holdout(contract, rows=20_000), tag=TAG, seed=0):
            assert len(plot["svg"].encode()) < MAX_BYTES, (plot["file"], len(plot["svg"]))
            assert "<image" not in plot["svg"]  # vector only: no embedded bitmap


def test_permutation_importance_ranks_the_feature_the_target_depends_on_first(
    regression_model: tuple[Settings, str],
) -> None:
    model = loaded(regression_model)
    features, labels = holdout(REGRESSION)
    ranking = plots.permutation_ranking(model, features, labels.to_numpy(), seed=0)
    assert ranking[0].feature == REGRESSION.features[0].name  # support.py: it carries the signal
    assert sorted(item.feature for item in ranking) == sorted(REGRESSION.feature_names)
    assert ranking[0].mean > 0.1
    assert ranking == plots.permutation_ranking(model, features, labels.to_numpy(), seed=0)


def test_a_hold_out_set_of_one_class_draws_no_curve_and_says_why(mixed_model: Model) -> None:
    features, labels = holdout(MIXED)
    only = labels == "yes"
    drawn = plots.model_plots(mixed_model, features[only], labels[only], tag=TAG, seed=0)
    assert files(drawn) == [*CLASSIFICATION_FILES, "permutation-importance.svg"]
    for plot in drawn[:2]:
        assert "the hold-out set holds a single class: no curve" in plot["svg"]


def test_names_are_drawn_as_written(tmp_path: Path) -> None:
    """A ``$`` pair would be parsed as maths (and ``x^`` refused) if matplotlib were left to read it."""
    contract = Contract(
        target=CategoricalTarget(name="y", classes=["<a>", "b & c"]),
        features=[
            NumericFeature(name="price_$x^$", type="numeric", min=0, max=10),
            CategoricalFeature(name="kind", type="categorical", categories=["p", "q"]),
        ],
    )
    settings, tag = train_on(tmp_path, contract, model_name="plots-names", rows=300)
    drawn = plots.model_plots(registry.load(settings, tag), *holdout(contract), tag=tag, seed=0)
    importance = drawn[-1]["svg"]
    assert ">price_$x^$</text>" in importance
    assert "class b &amp; c (AUC " in drawn[0]["svg"]  # escaped for SVG
    assert ">&lt;a&gt;</text>" in drawn[2]["svg"]  # a tick of the confusion matrix


def test_the_drift_picture_shows_the_drifted_numeric_and_categorical_features() -> None:
    reference = synthetic_frame(MIXED, 500, seed=1)
    current = synthetic_frame(MIXED, 400, seed=2)
    svg = plots.drift_plot(MIXED, reference, current, ["tenure_months", "plan"], TAG)
    assert svg is not None
    for name in ("tenure_months", "plan", "reference", "current", ">basic</text>", TAG):
        assert name in svg
    assert len(svg.encode()) < MAX_BYTES
    assert svg == plots.drift_plot(MIXED, reference, current, ["tenure_months", "plan"], TAG)
    assert plots.drift_plot(MIXED, reference, current, [], TAG) is None


def test_the_drift_picture_draws_the_first_drifted_features_only() -> None:
    contract = Contract(
        target=CategoricalTarget(name="y", classes=[0, 1]),
        features=[NumericFeature(name=f"f{i}", type="numeric") for i in range(plots.MAX_DRIFTED + 2)],
    )
    frame = synthetic_frame(contract, 200, seed=0)
    svg = plots.drift_plot(contract, frame, frame, contract.feature_names, TAG)
    assert svg is not None
    titles = re.findall(r">(f\d+)</text>", svg)
    assert titles == contract.feature_names[: plots.MAX_DRIFTED]
    assert f"the first {plots.MAX_DRIFTED} of {plots.MAX_DRIFTED + 2}" in svg


def test_a_feature_missing_everywhere_is_said_not_drawn() -> None:
    reference = synthetic_frame(MIXED, 100, seed=1).assign(tenure_months=np.nan)
    svg = plots.drift_plot(MIXED, reference, reference, ["tenure_months"], TAG)
    assert svg is not None
    assert "every value is missing" in svg
