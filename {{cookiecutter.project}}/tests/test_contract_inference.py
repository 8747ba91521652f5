"""Contract inference on real shapes shipped offline: scikit-learn's bundled sets and plotly's CSVs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.data  # type: ignore[import-untyped]  # comes with Evidently and ships its CSVs
import pytest
import yaml
from click.testing import CliRunner, Result
from sklearn.datasets import load_iris, load_wine

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.api_types import record_model
from {{ cookiecutter.package }}.cli import main
from {{ cookiecutter.package }}.contract import CategoricalFeature, CategoricalTarget, NumericFeature, load_contract
from {{ cookiecutter.package }}.contract_inference import (
    MARGIN,
    MAX_CATEGORIES,
    bounds,
    infer_contract,
    infer_file,
    render,
)
from {{ cookiecutter.package }}.data import write_table
from {{ cookiecutter.package }}.errors import DataError
from {{ cookiecutter.package }}.settings import Objectives, TrainingSettings
from {{ cookiecutter.package }}.train import train

from .support import PROJECT_CONTRACT, ROOT, settings_in

EXIT_CODES = "Exit codes: 0 ok, 1 a check failed (quality gate, drift), 2 bad input."
# Names and values YAML would misread unquoted (booleans, null, numbers, comments, mappings).
# ("null" and "NA" are not among them: pandas reads those as missing values.)
AWKWARD = ["total bill ($)", "No", "true", "~", "1", "a: b # c", "it's", "naïve ünïcode", "[x]", "-", "&anchor"]


def plotly_frame(name: str) -> pd.DataFrame:
    """One of the CSVs bundled in plotly.data (tips, gapminder, election, ...)."""
    return pd.DataFrame(getattr(plotly.data, name)())


def tips() -> pd.DataFrame:
    """plotly's tips, its third column renamed: the suite names no column of either starter dataset."""
    frame = plotly_frame("tips")
    return frame.rename(columns={frame.columns[2]: "diner"})


def sklearn_frame(loader: object) -> pd.DataFrame:
    return loader(as_frame=True).frame  # type: ignore[operator, no-any-return]


def write(frame: pd.DataFrame, folder: Path, name: str = "data.csv") -> Path:
    path = folder / name
    write_table(frame, path)
    return path


def feature(contract: object, name: str) -> NumericFeature | CategoricalFeature:
    return next(f for f in contract.features if f.name == name)  # type: ignore[attr-defined, no-any-return]


# -- the rules -------------------------------------------------------------------------------


def test_bounds_widen_the_range_and_keep_a_side_the_data_does_not_cross_at_zero() -> None:
    assert MARGIN == 0.5
    assert bounds(3.07, 50.81) == (0, 75)  # non-negative: min 0; 50.81 + 23.87 rounded up to a step of 1
    assert bounds(-10, 30) == (-30, 50)  # crosses zero: widened on both sides
    assert bounds(-80, -20) == (-110, 0)  # non-positive: max 0
    assert bounds(0.0012, 0.0052) == (0, 0.0072)  # two digits of the range, however small
    assert bounds(1, 6, integers=True) == (0, 9)  # integers get integer bounds (8.5 -> 9)
    low, high = bounds(-1.23456, 7.891)
    assert low <= -1.23456 - MARGIN * 9.12556
    assert high >= 7.891 + MARGIN * 9.12556


def test_a_binary_text_target_with_categorical_features(tmp_path: Path) -> None:
    """tips: smoker (No/Yes) from the bill, the tip, and text columns."""
    frame = tips()
    inference = infer_contract(frame, "smoker", source="tips.csv")
    contract = inference.contract
    assert contract.task == "classification"
    assert isinstance(contract.target, CategoricalTarget)
    assert contract.target.classes == ["No", "Yes"]
    assert contract.target.positive_class == "Yes"  # the rarer class: 93 of 244
    assert contract.feature_names == ["total_bill", "tip", "diner", "day", "time", "size"]
    assert feature(contract, "day") == CategoricalFeature(
        name="day", type="categorical", categories=["Fri", "Sat", "Sun", "Thur"]
    )
    assert feature(contract, "total_bill") == NumericFeature(name="total_bill", type="numeric", min=0, max=75)
    assert feature(contract, "size") == NumericFeature(name="size", type="numeric", min=0, max=9)  # a count
    assert inference.left_out == []
    contract.validate_frame(frame, source="tips", with_target=True)


@pytest.mark.parametrize("loader", [load_iris, load_wine], ids=["iris", "wine"])
def test_an_integer_target_with_few_values_is_multiclass(loader: object) -> None:
    frame = sklearn_frame(loader)
    contract = infer_contract(frame, "target", source="sklearn").contract
    assert contract.task == "classification"
    assert isinstance(contract.target, CategoricalTarget)
    assert contract.target.classes == [0, 1, 2]
    assert contract.target.positive_class is None  # multi-class: no positive class
    assert contract.feature_names == [name for name in frame.columns if name != "target"]
    assert all(isinstance(f, NumericFeature) and f.min == 0 for f in contract.features)  # all non-negative


def test_a_numeric_target_with_many_values_is_a_regression() -> None:
    """carshare: car hours per district, 33 to 3274; longitudes are negative, so their max stays 0."""
    frame = plotly_frame("carshare")
    contract = infer_contract(frame, "car_hours", source="carshare").contract
    assert contract.task == "regression"
    assert (contract.target.min, contract.target.max) == (0, 4900)  # type: ignore[union-attr]
    assert feature(contract, "centroid_lon") == NumericFeature(name="centroid_lon", type="numeric", min=-73.86, max=0)
    assert feature(contract, "peak_hour") == NumericFeature(name="peak_hour", type="numeric", min=0, max=35)
    centred = plotly_frame("experiment").assign(experiment_1=lambda rows: rows["experiment_1"] - 100)
    crossing = feature(infer_contract(centred, "experiment_2", source="experiment").contract, "experiment_1")
    assert crossing == NumericFeature(name="experiment_1", type="numeric", min=-44, max=49)  # both sides widened
    tip = infer_contract(tips(), "tip", source="tips").contract
    assert tip.task == "regression"
    assert "smoker" in tip.feature_names


def test_missing_values_make_a_feature_nullable_and_leave_its_bounds(tmp_path: Path) -> None:
    frame = tips()
    frame.loc[[0, 5, 9], "total_bill"] = np.nan
    frame.loc[[1, 2], "day"] = None
    path = write(frame, tmp_path)
    inference, _ = infer_file(path, "smoker")
    contract = inference.contract
    assert feature(contract, "total_bill") == NumericFeature(
        name="total_bill", type="numeric", min=0, max=75, nullable=True
    )
    assert feature(contract, "day").nullable
    assert not feature(contract, "diner").nullable


def test_booleans_are_categories_written_as_text(tmp_path: Path) -> None:
    frame = tips().assign(weekend=lambda rows: rows["day"].isin(["Sat", "Sun"]))
    frame["regular"] = pd.Series(frame.index % 3 == 0, dtype=object)
    frame.loc[[4, 7], "regular"] = None  # with gaps, pandas reads True/False/empty as objects
    inference, text = infer_file(write(frame, tmp_path), "smoker")
    contract = inference.contract
    assert feature(contract, "weekend") == CategoricalFeature(
        name="weekend", type="categorical", categories=["False", "True"]
    )
    assert feature(contract, "regular") == CategoricalFeature(
        name="regular", type="categorical", categories=["False", "True"], nullable=True
    )
    assert "categories: ['False', 'True']" in text


def test_id_like_text_row_numbers_and_empty_columns_are_left_out_with_a_notice(tmp_path: Path) -> None:
    """gapminder: 142 countries in 1704 rows; a CSV written with its index adds ``Unnamed: 0``."""
    frame = plotly_frame("gapminder").assign(constant="same", empty=np.nan)
    path = tmp_path / "gapminder.csv"
    frame.to_csv(path)  # with the index
    inference, _ = infer_file(path, "lifeExp")
    notices = inference.left_out
    assert notices == [
        "left out 'Unnamed: 0': a row number (consecutive integers)",
        f"left out 'country': 142 distinct text values in 1704 rows: ID-like (more than {MAX_CATEGORIES}, "
        "or more than half the rows), not categories",
        "left out 'iso_alpha': 141 distinct text values in 1704 rows: ID-like (more than 50, or more than half "
        "the rows), not categories",
        "left out 'constant': a single value ('same') tells the model nothing",
        "left out 'empty': every value is missing",
    ]
    assert inference.contract.feature_names == ["continent", "year", "pop", "gdpPercap", "iso_num"]
    election = plotly_frame("election")  # 58 rows: 'district' has a value per row (more than half the rows)
    assert any(
        line.startswith("left out 'district': 58 distinct")
        for line in infer_contract(election, "winner", source="election").left_out
    )


def test_no_feature_left_is_refused_listing_why() -> None:
    frame = pd.DataFrame({"id": [f"row{i}" for i in range(30)], "label": ["a", "b"] * 15})
    with pytest.raises(DataError, match=r"no column is left to be a feature:\n  left out 'id': 30 distinct"):
        infer_contract(frame, "label", source="ids.csv")


def test_names_the_api_cannot_take_are_left_out() -> None:
    frame = tips().assign(_row=1.0, json=2.0, prediction=3.0)
    frame["_row"] = frame.index * 0.5
    frame["json"] = frame.index * 0.5
    frame["prediction"] = frame.index * 0.5
    notices = infer_contract(frame, "smoker", source="tips").left_out
    assert [line.split(":")[0] for line in notices] == ["left out '_row'", "left out 'json'", "left out 'prediction'"]
    assert all("rename the column" in line for line in notices)


# -- the YAML --------------------------------------------------------------------------------


def test_the_yaml_quotes_every_string_and_reads_back_exactly(tmp_path: Path) -> None:
    """Names with spaces and symbols, and values YAML would misread, survive a write and a load_contract."""
    frame = tips().rename(columns={"total_bill": AWKWARD[0], "diner": AWKWARD[1], "smoker": "smoker?"})
    frame["time"] = np.resize(AWKWARD[1:], len(frame))  # categories such as 'No', 'true', '~', '1'
    frame["tab\there"] = np.resize(["x\ty", 'q"uote', "back\\slash"], len(frame))  # escapes: double quotes
    inference, text = infer_file(write(frame, tmp_path), "smoker?")
    path = tmp_path / "contract.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_contract(path)
    assert loaded == inference.contract
    assert loaded.feature_names == [AWKWARD[0], "tip", AWKWARD[1], "day", "time", "size", "tab\there"]
    assert feature(loaded, "time").categories == sorted(AWKWARD[1:])  # type: ignore[union-attr]
    assert "  - {name: 'total bill ($)', type: numeric, min: 0, max: 75, nullable: false}" in text
    assert "  classes: ['No', 'Yes']" in text
    assert "  name: 'smoker?'" in text


def test_the_yaml_header_names_the_source_and_the_rules() -> None:
    inference = infer_contract(
        tips().assign(ticket=lambda rows: "t" + rows.index.astype(str)), "tip", source="x/tips.csv"
    )
    header = [line for line in render(inference, "x/tips.csv").splitlines() if line.startswith("#")]
    assert header[0] == "# The data contract, inferred from x/tips.csv (244 rows) by `contract infer`."
    assert "REVIEW IT before training" in header[1]
    assert any(f"widened by {MARGIN:g} x (max - min) on each side" in line for line in header)
    assert any(line.startswith("# left out 'ticket': 244 distinct text values") for line in header)


def test_a_parquet_file_gives_the_same_contract(tmp_path: Path) -> None:
    frame = tips()
    from_csv, _ = infer_file(write(frame, tmp_path, "tips.csv"), "smoker")
    from_parquet, _ = infer_file(write(frame, tmp_path, "tips.parquet"), "smoker")
    assert from_parquet.contract == from_csv.contract


@pytest.mark.parametrize(
    ("change", "target", "message"),
    [
        (lambda frame: frame, "no such column", "no column 'no such column'; the columns are 'total_bill', "),
        (lambda frame: frame.assign(smoker="No"), "smoker", "a single value ('No') in every row: nothing to learn"),
        (
            lambda frame: frame.assign(smoker=frame["smoker"].where(frame.index >= 3)),
            "smoker",
            "3 of 244 rows have no value; training needs a label",
        ),
        (lambda frame: frame.assign(flag=frame.index % 2 == 0), "flag", "holds true/false: a contract's classes are"),
        (lambda frame: frame.head(0), "smoker", "no rows to infer a contract from"),
    ],
    ids=["missing-column", "single-valued", "null-target", "boolean-target", "no-rows"],
)
def test_a_target_that_cannot_be_learned_is_refused(tmp_path: Path, change: object, target: str, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        infer_contract(change(tips()), target, source="tips.csv")  # type: ignore[operator]


# -- the command -----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the project's config, whose contract the command replaces."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path


def run(project: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(project / "config" / "project.yaml"), "contract", "infer", *args])


def snapshot(project: Path) -> dict[str, bytes]:
    return {str(path.relative_to(project)): path.read_bytes() for path in sorted(project.rglob("*")) if path.is_file()}


def test_help_states_the_rules_and_the_exit_codes() -> None:
    result = CliRunner().invoke(main, ["contract", "infer", "--help"])
    assert result.exit_code == 0
    assert EXIT_CODES in result.output
    assert f"widened by {MARGIN:g} x (max - min) on each side" in result.output
    assert "--force" in result.output
    assert "infer" in CliRunner().invoke(main, ["contract", "--help"]).output


def test_infer_writes_the_contract_and_its_docs_tables_and_says_what_next(project: Path) -> None:
    """The task opposite to the project's own: the objectives and estimator to change are named."""
    other = "tip" if PROJECT_CONTRACT.task == "classification" else "smoker"
    data = write(tips().assign(ticket=lambda rows: "t" + rows.index.astype(str)), project, "tips.csv")
    result = run(project, "--data", str(data), "--target", other, "--force")
    assert result.exit_code == 0, result.output
    contract = load_contract(project / "config" / "contract.yaml")
    assert contract.task != PROJECT_CONTRACT.task
    lines = result.output.splitlines()
    assert lines[0].startswith("left out 'ticket': 244 distinct text values")
    assert lines[1:4] == [
        f"wrote {project / 'config' / 'contract.yaml'}",
        f"wrote {project / 'docs' / 'snippets' / 'contract-table.md'}",
        f"wrote {project / 'docs' / 'snippets' / 'objectives-table.md'}",
    ]
    assert f"target '{other}': {contract.task}" in result.output
    assert f"not an objective of {contract.task}" in result.output
    assert "is not a regressor" in result.output or "is not a classifier" in result.output
    assert "training reads data.path" in result.output
    assert lines[-1] == "  - make train docs"
    checked = CliRunner().invoke(main, ["--config", str(project / "config" / "project.yaml"), "docs", "--check"])
    assert checked.exit_code == 0, checked.output  # `make lint` stays green


def test_a_task_that_fits_the_settings_needs_no_change(project: Path) -> None:
    same = "smoker" if PROJECT_CONTRACT.task == "classification" else "tip"
    result = run(project, "--data", str(write(tips(), project, "tips.csv")), "--target", same, "--force")
    assert result.exit_code == 0, result.output
    assert "not an objective" not in result.output
    assert "training.estimator" not in result.output
    assert f"objectives for {PROJECT_CONTRACT.task} in config/project.yaml (objectives." in result.output


def test_another_output_leaves_the_project_contract_and_its_docs_alone(project: Path) -> None:
    data = write(tips(), project, "tips.csv")
    output = project / "drafts" / "tips.yaml"
    output.parent.mkdir()  # a folder named on the command line must exist
    before = snapshot(project)
    result = run(project, "--data", str(data), "--target", "smoker", "--output", str(output))
    assert result.exit_code == 0, result.output
    after = snapshot(project)
    assert after.pop("drafts/tips.yaml")
    assert after == before
    assert "point `contract:` at" in result.output
    assert load_contract(output).target.name == "smoker"


def test_an_existing_output_needs_force(project: Path) -> None:
    data = write(tips(), project, "tips.csv")
    before = snapshot(project)
    result = run(project, "--data", str(data), "--target", "smoker")
    assert result.exit_code == 2
    assert result.output == (
        f"error: {project / 'config' / 'contract.yaml'} exists: pass --force (make contract ... FORCE=1) "
        "to overwrite it\n"
    )
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("data", "target", "message"),
    [
        ("missing.csv", "smoker", "missing.csv: file not found"),
        ("tips.txt", "smoker", "unsupported file type '.txt'"),
        ("tips.csv", "nope", "no column 'nope'"),
        ("single.csv", "smoker", "a single value ('No') in every row"),
    ],
    ids=["missing-file", "file-type", "missing-column", "single-valued-target"],
)
def test_bad_input_exits_two_and_writes_nothing(project: Path, data: str, target: str, message: str) -> None:
    write(tips(), project, "tips.csv")
    (project / "tips.txt").write_text("a,b\n1,2\n")
    write(tips().assign(smoker="No"), project, "single.csv")
    before = snapshot(project)
    result = run(project, "--data", str(project / data), "--target", target, "--force")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ")
    assert message in result.output
    assert snapshot(project) == before


# -- through the whole project ---------------------------------------------------------------


def test_a_model_of_an_inferred_contract_serves_names_with_spaces(tmp_path: Path) -> None:
    """iris's features are named like ``sepal length (cm)``: they are the API's JSON keys exactly."""
    data = write(sklearn_frame(load_iris).rename(columns={"target": "species code"}), tmp_path, "iris.csv")
    _, text = infer_file(data, "species code")
    (tmp_path / "contract.yaml").write_text(text, encoding="utf-8")
    contract = load_contract(tmp_path / "contract.yaml")
    settings = settings_in(
        tmp_path,
        contract=tmp_path / "contract.yaml",
        model_name="inferred-iris",
        objectives=Objectives(min_accuracy=0.8),
        training=TrainingSettings(),  # the default estimator of the inferred task
    )
    shutil.copyfile(data, settings.data_path)
    tag = train(settings, contract)
    model = registry.load(settings, tag)
    record_type = record_model(model.contract)
    assert list(record_type.model_json_schema()["properties"]) == contract.feature_names
    body = json.dumps(
        {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}
    )
    record = record_type.model_validate_json(body)
    predictions = model.predict_records([dict(record.__dict__)])  # as the service hands records to the model
    assert predictions.values == [0]
    assert yaml.safe_load(text)["features"][0]["name"] == "sepal length (cm)"
