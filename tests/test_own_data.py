"""A baked project switched to other datasets, following docs/own-data.md, stays green without editing tests/.

One bake, installed once; each dataset in turn replaces the data, the contract (inferred by
`make contract`), the data source (the committed file) and the objectives, then the project's
own `make data train docs` and its CI rehearsal (lint, hooks, test, test-slow, train, build) must
pass. The datasets ship inside packages the project installs (scikit-learn, plotly): no download.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.main import cookiecutter

from .conftest import TEMPLATE
from .test_e2e import make, rehearse_ci, stored_model

# name -> (Python that writes the table to the path in sys.argv[1], target column, objectives)
DATASETS: dict[str, tuple[str, str, dict[str, float]]] = {
    # binary target with string labels ('No'/'Yes'), categorical features, a column name with spaces and symbols
    "tips": (
        "import plotly.data, sys; frame = plotly.data.tips().rename(columns={'total_bill': 'total bill ($)'}); "
        "frame.to_csv(sys.argv[1], index=False)",
        "smoker",
        {"min_accuracy": 0.5},
    ),
    # multiclass target; features with missing values
    "wine": (
        "import numpy as np, sklearn.datasets, sys; frame = sklearn.datasets.load_wine(as_frame=True).frame; "
        "rng = np.random.default_rng(0); frame = frame.mask((rng.random(frame.shape) < 0.05) & (frame.columns "
        "!= 'target')); frame['target'] = frame['target'].map({0: 'barolo', 1: 'grignolino', 2: 'barbera'}); "
        "frame.to_csv(sys.argv[1], index=False)",
        "target",
        {"min_accuracy": 0.8, "min_f1": 0.8},
    ),
    # regression target; a categorical feature; an ID-like text column that inference leaves out
    "gapminder": (
        "import plotly.data, sys; plotly.data.gapminder().to_csv(sys.argv[1], index=False)",
        "lifeExp",
        {"min_r2": 0.6, "max_mae": 6.0},
    ),
    # many numeric features (8x8 pixel intensities) and ten integer classes
    "digits": (
        "import sklearn.datasets, sys; sklearn.datasets.load_digits(as_frame=True).frame.to_csv(sys.argv[1], "
        "index=False)",
        "target",
        {"min_accuracy": 0.85},
    ),
}
ESTIMATORS = {
    "classification": "sklearn.ensemble:HistGradientBoostingClassifier",
    "regression": "sklearn.ensemble:HistGradientBoostingRegressor",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, baked with git and installed once for every dataset."""
    folder = tmp_path_factory.mktemp("own-data")
    root = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(folder)))
    make(root, "install")
    return root


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True).stdout


def switch_settings(project: Path, name: str, task: str, objectives: dict[str, float]) -> None:
    """config/project.yaml as the docs page says: the committed file as the source, the task's objectives."""
    path = project / "config" / "project.yaml"
    settings: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["data"] = {"source": f"data/{name}.csv", "path": f"data/{name}.csv"}
    settings["objectives"] = objectives | {"max_drift_share": 0.3, "drift_thresholds": {}}
    settings["training"]["estimator"] = ESTIMATORS[task]
    settings["training"]["params"] = {"early_stopping": False}
    path.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DATASETS))
def test_the_project_trains_and_passes_its_ci_on_another_dataset(project: Path, name: str) -> None:
    script, target, objectives = DATASETS[name]
    first_commit = git(project, "rev-list", "--max-parents=0", "HEAD").strip()
    subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", script, f"data/{name}.csv"], cwd=project, check=True
    )
    inferred = make(project, "contract", f"DATA=data/{name}.csv", f"TARGET={target}", "FORCE=1")
    contract = yaml.safe_load((project / "config" / "contract.yaml").read_text(encoding="utf-8"))
    task = "regression" if contract["target"]["type"] == "numeric" else "classification"
    assert contract["target"]["name"] == target
    switch_settings(project, name, task, objectives)
    make(project, "data", "train", "docs")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", f"Train on {name}")
    rehearse_ci(project, short_loadtest=True)

    assert git(project, "diff", "--stat", first_commit, "HEAD", "--", "tests") == ""  # tests/ was not edited
    _, info = stored_model(project, "breast_cancer_classifier")
    assert info["metadata"]["task"] == task
    assert info["metadata"]["contract"]["target"]["name"] == target
    names = [feature["name"] for feature in info["metadata"]["contract"]["features"]]
    if name == "tips":
        assert "total bill ($)" in names
        assert sorted(contract["target"]["classes"]) == ["No", "Yes"]  # strings, not YAML booleans
    if name == "wine":
        assert any(feature["nullable"] for feature in contract["features"])
    if name == "gapminder":
        assert "country" not in names  # high-cardinality text is left out, and said so
        assert "country" in inferred
