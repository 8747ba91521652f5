"""Champion against challenger: a better, an equal and a worse challenger; the bootstrap's metrics; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.cli import main
from {{ cookiecutter.package }}.compare import compare, metric_samples
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import write_table
from {{ cookiecutter.package }}.evaluation import score
from {{ cookiecutter.package }}.settings import Objectives, Settings, TrainingSettings
from {{ cookiecutter.package }}.train import train

from .support import MULTICLASS, REGRESSION, passing_objectives, settings_in, synthetic_frame

# A linear model trains and converts in a fraction of a second, whatever the project's estimator.
FAST = {"classification": "sklearn.linear_model:LogisticRegression", "regression": "sklearn.linear_model:Ridge"}


class Models:
    """Three versions of the project's contract in one store folder, and labelled rows none was trained on."""

    def __init__(self, folder: Path, contract: Contract) -> None:
        self.folder, self.contract = folder, contract
        self.settings = settings_in(folder, objectives=passing_objectives(contract))
        self.data = folder / "fresh.csv"
        write_table(synthetic_frame(contract, 400, seed=7), self.data)
        self.good = self.fit(rows=600, learnable=True)
        self.twin = self.fit(rows=600, learnable=True)  # same data and seed as `good`: the same model
        self.bad = self.fit(rows=600, learnable=False)

    def fit(self, *, rows: int, learnable: bool) -> str:
        training = TrainingSettings(estimator=FAST[self.contract.task], params={}, plots=False)
        lax = Objectives(min_r2=-1e9) if self.contract.task == "regression" else Objectives(min_roc_auc=0)
        settings = self.settings.model_copy(update={"training": training, "objectives": lax})
        write_table(synthetic_frame(self.contract, rows, seed=0, learnable=learnable), settings.data_path)
        return train(settings, self.contract)

    def run(self, champion: str, challenger: str, *extra: str) -> tuple[int, str, dict[str, object]]:
        config = self.folder / "config" / "project.yaml"
        if not config.exists():
            config.parent.mkdir(exist_ok=True)
            raw = self.settings.model_dump(mode="json", exclude={"root"})
            raw["data"] = {
                "source": "data.csv",
                "path": "data.csv",
            }  # the table fit() wrote, whatever the project's source
            config.write_text(json.dumps(raw), encoding="utf-8")  # JSON is YAML
        arguments = ["--config", str(config), "compare", "--champion", champion, "--challenger", challenger]
        result = CliRunner().invoke(main, [*arguments, "--data", str(self.data), "--resamples", "500", *extra])
        summary_file = self.folder / "reports" / "compare.json"
        summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
        return result.exit_code, result.output, summary


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, contract: Contract) -> Models:
    return Models(tmp_path_factory.mktemp("compare"), contract)


def test_a_better_challenger_wins(models: Models) -> None:
    code, output, summary = models.run(models.bad, models.good)
    assert code == 0, output
    assert "the challenger wins" in output
    gain = summary["gain"]
    assert isinstance(gain, dict)
    assert gain["low"] > 0, "a model of learnable data beats one of shuffled data on every resample"
    assert summary["winner"] == "challenger"


def test_an_equal_challenger_is_not_worse_and_wins(models: Models) -> None:
    code, output, summary = models.run(models.good, models.twin)
    assert code == 0, output
    assert summary["gain"] == {
        "point": 0.0,
        "low": 0.0,
        "high": 0.0,
        "confidence": 0.95,
        "resamples": 500,
        "defined_resamples": 500,
        "seed": 42,
    }


def test_a_worse_challenger_loses_naming_the_interval_and_the_missed_objective(models: Models) -> None:
    code, output, summary = models.run(models.good, models.bad)
    assert code == 1, output
    metric = summary["metric"]
    assert f"error: the champion stays:\n{metric}: the challenger's gain is -" in output
    assert "below -objectives.challenger_margin" in output
    assert f"{models.bad} misses an objective on these rows:" in output
    assert summary["winner"] == "champion"


def test_the_bootstrap_is_seeded(models: Models) -> None:
    champion, challenger = registry.load(models.settings, models.bad), registry.load(models.settings, models.good)

    def gain(seed: int) -> object:
        result = compare(models.settings, champion, challenger, models.data, resamples=200, seed=seed)
        return result.summary["gain"]

    assert gain(3) == gain(3)
    assert gain(3) != gain(4)


def test_bad_input_exits_2(models: Models, tmp_path: Path) -> None:
    code, output, _ = models.run(models.good, models.good)
    assert (code, "are the same version" in output) == (2, True)
    code, output, _ = models.run(models.good, "no-such-version")
    assert (code, "is not in the model store" in output) == (2, True)
    few = tmp_path / "few.csv"
    write_table(synthetic_frame(models.contract, 10, seed=1), few)
    arguments = ["--config", str(models.folder / "config" / "project.yaml"), "compare", "--champion", models.good]
    result = CliRunner().invoke(main, [*arguments, "--challenger", models.twin, "--data", str(few)])
    assert result.exit_code == 2
    assert "10 labelled rows (all rows); compare needs at least 30" in result.output


@pytest.mark.parametrize("which", ["project", "multiclass", "regression"])
def test_the_vectorised_metrics_equal_the_evaluation_metrics(
    which: str,
    trained: tuple[Settings, str],
    multiclass_model: tuple[Settings, str],
    regression_model: tuple[Settings, str],
    contract: Contract,
) -> None:
    settings, tag = {"project": trained, "multiclass": multiclass_model, "regression": regression_model}[which]
    model = registry.load(settings, tag)
    shape = {"project": contract, "multiclass": MULTICLASS, "regression": REGRESSION}[which]
    frame = synthetic_frame(shape, 300, seed=5)
    features, labels = frame[shape.feature_names], frame[shape.target.name]
    expected = score(model, features, labels)
    predictions = model.predict_frame(features)
    everything = np.arange(len(labels))[np.newaxis, :]
    for name, value in expected.items():
        measured = metric_samples(name, model, predictions, labels, everything)[0]
        assert measured == pytest.approx(value, abs=1e-6), name
