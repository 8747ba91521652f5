"""The command line on a fresh copy of the project's config: the whole flow, and an exit code for each failure."""

from __future__ import annotations

import json
import re
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result

from {{ cookiecutter.package }}.api_types import record_model
from {{ cookiecutter.package }}.cli import main, short_revision
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import read_table, write_table
from {{ cookiecutter.package }}.settings import Objectives, Settings, load_settings

from .support import MIXED, PROJECT_CONTRACT, ROOT, passing_objectives, synthetic_frame


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's config in a fresh folder: the CLI sees a brand-new project.

    Its training draws no plots (their tests are test_plots.py's), but in the whole flow.
    """
    shutil.copytree(ROOT / "config", tmp_path / "config")
    configure(tmp_path, lambda raw: raw["training"].update(plots=False))
    return tmp_path


def run(project: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(project / "config" / "project.yaml"), *args])


def configure(project: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Edit config/project.yaml as data; returns the settings written."""
    path = project / "config" / "project.yaml"
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return raw  # type: ignore[no-any-return]


def gate_on(objectives: Objectives) -> Callable[[dict[str, Any]], None]:
    """Replace the metric objectives, keeping the drift ones."""

    def change(raw: dict[str, Any]) -> None:
        drift = {k: v for k, v in raw["objectives"].items() if k in ("max_drift_share", "drift_thresholds")}
        raw["objectives"] = objectives.declared() | drift

    return change


def write_data(project: Path, raw: dict[str, Any], frame: pd.DataFrame) -> Path:
    path = Path(project, raw["data"]["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def git(project: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=project, check=True, capture_output=True, text=True)
    return done.stdout.strip()


MEASURED = r"-?\d+\.\d{4}"  # a metric as the gate prints it
BUNDLE_FILES = ("model.onnx", "contract.json", "predict.py", "requirements.txt", "README.md")  # of `edge`
COMMANDS = [
    "data",
    "validate",
    "train",
    "evaluate",
    "predict",
    "models",
    "example",
    "drift",
    "docs",
    "dockerfile",
    "import",
    "export",
    "edge",
]


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_every_command_has_help_with_the_exit_codes(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Exit codes: 0 ok, 1 a check failed (quality gate, drift), 2 bad input." in result.output


def test_data_prepares_the_configured_source_and_validate_accepts_it(project: Path) -> None:
    raw = configure(project, lambda raw: None)
    kind = load_settings(project / "config" / "project.yaml").data.kind
    if kind == "url":
        pytest.skip("a URL data.source is downloaded by `make data`: the tests stay offline")
    if kind == "file":  # a committed training file: the fresh project gets its own copy
        (project / raw["data"]["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / raw["data"]["path"], project / raw["data"]["path"])
    result = run(project, "data")
    assert result.exit_code == 0, result.output
    written = read_table(project / raw["data"]["path"])
    assert str(len(written)) in result.output
    validated = run(project, "validate")
    assert validated.exit_code == 0, validated.output
    assert validated.output.startswith(f"ok: {len(written)} rows of ")


def test_the_whole_flow_exits_zero_and_records_a_dirty_revision(project: Path, contract: Contract) -> None:
    git(project, "init", "-b", "main")
    git(project, "add", "config")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-m", "first")
    head = git(project, "rev-parse", "HEAD")

    def change(raw: dict[str, Any]) -> None:  # a model name no other test registers in the shared store
        raw["model_name"] = "whole-flow"
        raw["training"]["plots"] = True  # as shipped
        gate_on(passing_objectives(contract))(raw)

    raw = configure(project, change)  # a tracked file changed: the revision is dirty
    data = write_data(project, raw, synthetic_frame(contract, 300))
    assert run(project, "models").output.startswith("no versions of whole-flow yet")
    outputs = {}
    for command in ("validate", "train", "models", "predict", "evaluate", "example"):
        result = run(project, command)
        assert result.exit_code == 0, result.output
        outputs[command] = result.output
    record_model(contract).model_validate_json(outputs["example"])  # a request the API accepts
    assert len(json.loads(run(project, "example", "--rows", "3").output)) == 3
    assert f"git {head[:12]}-dirty)" in outputs["train"]
    header, row, *_ = outputs["models"].splitlines()  # then a line per version without an ONNX graph
    assert header.split()[:4] == ["tag", "created", "(UTC)", "task"]
    assert re.search(rf"^whole-flow:\S+\s+\S+ \S+\s+{contract.task}\s.*{head[:12]}-dirty$", row)
    assert outputs["evaluate"].endswith("all objectives met\n")
    assert (project / "reports" / "metrics.json").is_file()
    scored = read_table(project / "predictions" / data.name)
    assert len(scored) == 300
    assert "prediction" in scored.columns


def test_short_revisions_keep_the_dirty_suffix() -> None:
    commit = "c" * 40  # a commit hash's length
    assert short_revision(f"{commit}-dirty") == "c" * 12 + "-dirty"
    assert short_revision(commit) == "c" * 12
    assert short_revision("unknown") == "unknown"


def test_a_failed_gate_exits_one_and_names_the_metric(project: Path, contract: Contract) -> None:
    objectives = passing_objectives(contract)
    raw = configure(project, gate_on(objectives))
    write_data(project, raw, synthetic_frame(contract, 300, learnable=False))
    result = run(project, "train")
    assert result.exit_code == 1
    assert "error: quality gate failed: the model was not registered" in result.output
    (limit,) = objectives.limits()
    side = "below the floor" if limit.bound == "min" else "above the ceiling"
    assert re.search(rf"{limit.metric} = {MEASURED} is {side} {limit.key} = {limit.value:g}", result.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train"], "training data not found; run `make data`"),
        (["evaluate", "--model", "nosuchversion"], "is not in the model store"),
        (["predict", "--input", "missing.csv"], "missing.csv: file not found"),
        (["validate", "nothing.txt"], "unsupported file type '.txt'"),
        (["dockerfile", "--bento", "nosuch:v1"], "bento 'nosuch:v1' is not in the store: run `make build` first"),
        (["import", "config/project.yaml"], "config/project.yaml: cannot be imported as a bento"),
    ],
)
def test_bad_input_exits_two_with_one_clear_error(project: Path, args: list[str], message: str) -> None:
    result = run(project, *args)
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert message in result.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["predict", "--output", "{missing}/scored.csv"], "--output {missing}/scored.csv"),
        (["export", "--output-dir", "{missing}"], "--output-dir {missing}"),
        (["contract", "infer", "--data", "t.csv", "--target", "y", "--output", "{missing}/c.yaml"], "--output"),
    ],
    ids=["predict", "export", "contract-infer"],
)
def test_a_folder_named_on_the_command_line_must_exist(project: Path, args: list[str], option: str) -> None:
    """A mistyped folder is refused before anything is read, not created; the defaults' folders are created."""
    missing = project / "scroed"
    result = run(project, *(arg.format(missing=missing) for arg in args))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {option.format(missing=missing)}")
    assert f"the folder {missing} does not exist (a typo?): create it first (mkdir -p {missing})" in result.output
    assert not missing.exists()


def test_a_semicolon_separated_file_gets_one_error_saying_so(project: Path, contract: Contract) -> None:
    path = project / "semicolons.csv"
    synthetic_frame(contract, 5).to_csv(path, index=False, sep=";")
    result = run(project, "validate", str(path))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {path}: the header is one column, ")
    assert "separated by semicolons (;) instead of commas" in result.output
    assert len(result.output.splitlines()) == 1


def test_a_repeated_column_exits_two_naming_it(project: Path, contract: Contract) -> None:
    frame = synthetic_frame(contract, 5)
    last = contract.feature_names[-1]
    frame.assign(copy=frame[last]).to_csv(project / "twice.csv", index=False, header=[*frame.columns, last])
    result = run(project, "validate", str(project / "twice.csv"))
    assert result.exit_code == 2
    assert result.output == (
        f"error: {project / 'twice.csv'}: duplicate column names ['{last}']: "
        "each column may appear once; rename or drop the copies\n"
    )


OTHER_TASK = {
    "classification": ("sklearn.linear_model:Ridge", {"max_rmse": 10.0}, "is not a classifier"),
    "regression": ("sklearn.linear_model:LogisticRegression", {"min_roc_auc": 0.9}, "is not a regressor"),
}[PROJECT_CONTRACT.task]


def estimator(path: str, **params: object) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        raw["training"] |= {"estimator": path, "params": params}

    return change


def objective(**objectives: float) -> Callable[[dict[str, Any]], None]:
    return lambda raw: raw["objectives"].update(objectives)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw["training"].update(test_size=2), "training.test_size: Input should be less than 1 (got 2)"),
        (estimator("sklearn.ensemble:NoSuchModel"), "training.estimator: cannot import 'sklearn.ensemble:NoSuchModel'"),
        (estimator("sklearn.ensemble.RandomForest"), "training.estimator: String should match pattern"),
        (estimator(OTHER_TASK[0]), f"training.estimator: {OTHER_TASK[0]} {OTHER_TASK[2]}"),
        (
            lambda raw: raw["training"].setdefault("params", {}).update(no_such_param=1),
            "training.params: no_such_param is not a parameter of ",
        ),
        (objective(**OTHER_TASK[1]), f"objectives.{next(iter(OTHER_TASK[1]))}: not an objective of"),
    ],
    ids=["value", "import", "pattern", "other-task-estimator", "param", "other-task-objective"],
)
def test_a_bad_setting_exits_two_naming_the_key(
    project: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    configure(project, change)
    result = run(project, "train")
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert message in result.output


def test_drift_exits_zero_one_or_two(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the two-feature mixed contract: a report on many features would only cost time here."""
    monkeypatch.delenv("PREDICTION_LOG_DIR")  # the default: serving.prediction_log_dir in the project
    (project / "config" / "contract.yaml").write_text(yaml.safe_dump(MIXED.model_dump(mode="json")))

    def change(raw: dict[str, Any]) -> None:
        gate_on(passing_objectives(MIXED))(raw)
        raw["model_name"] = "drift-cli"
        raw["objectives"]["max_drift_share"] = 0.3
        raw["training"] = {"test_size": 0.2, "plots": False}  # the shipped estimator may be of the other task

    raw = configure(project, change)
    data = write_data(project, raw, synthetic_frame(MIXED, 600))
    trained = run(project, "train")
    assert trained.exit_code == 0, trained.output
    result = run(project, "drift")
    assert result.exit_code == 2
    assert f"{raw['serving']['prediction_log_dir']}: not found. Serve the model" in result.output
    synthetic_frame(MIXED, 1).to_csv(project / "one-row.csv", index=False)
    one_row = run(project, "drift", "--current", str(project / "one-row.csv"))
    assert one_row.exit_code == 2
    assert "1 current rows, fewer than drift.min_rows (100)" in one_row.output
    same = run(project, "drift", "--current", str(data))  # the training rows
    assert same.exit_code == 0, same.output
    assert "no drift beyond the thresholds" in same.output
    (number,) = MIXED.numeric
    shifted_rows = synthetic_frame(MIXED, 600).assign(**{number.name: lambda frame: frame[number.name] + 100})
    shifted_rows.to_csv(project / "shifted.csv", index=False)
    shifted = run(project, "drift", "--current", str(project / "shifted.csv"))
    assert shifted.exit_code == 1
    expected = f"error: 1 of 2 features drifted (share 0.50 > objectives.max_drift_share 0.3): {number.name}"
    assert expected in shifted.output
    assert (project / "reports" / "drift" / "latest" / "report.html").is_file()


def test_data_checks_a_committed_file_and_train_reads_it(project: Path, contract: Contract) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["model_name"] = "file-source"
        raw["data"] = {"source": "data/train.csv", "path": "data/train.csv"}
        gate_on(passing_objectives(contract))(raw)

    configure(project, change)
    (project / "data").mkdir()
    synthetic_frame(contract, 300).to_csv(project / "data" / "train.csv", index=False)
    checked = run(project, "data")
    assert checked.exit_code == 0, checked.output
    assert checked.output == (
        f"ok: 300 rows of {project / 'data' / 'train.csv'} satisfy the data contract "
        "(a file in the repository: nothing written)\n"
    )
    assert sorted(path.name for path in (project / "data").iterdir()) == ["train.csv"]
    trained = run(project, "train")
    assert trained.exit_code == 0, trained.output


def test_data_downloads_a_pinned_url_once(project: Path, contract: Contract) -> None:
    from {{ cookiecutter.package }}.data import file_sha256

    published = project / "elsewhere" / "train.csv"
    published.parent.mkdir()
    synthetic_frame(contract, 120).to_csv(published, index=False)
    digest = file_sha256(published)
    configure(
        project,
        lambda raw: raw.update(data={"source": published.as_uri(), "path": "data/cache/train.csv", "sha256": digest}),
    )
    first, second = run(project, "data"), run(project, "data")
    assert (first.exit_code, second.exit_code) == (0, 0), first.output + second.output
    assert first.output.startswith(f"downloaded 120 rows from {published.as_uri()} to ")
    assert "download skipped" in second.output
    assert (project / "data" / "cache" / "train.csv").read_bytes() == published.read_bytes()
    assert run(project, "validate").exit_code == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"source": "http://example.org/t.csv", "path": "t.csv", "sha256": "0" * 64}, "plain http:// is refused"),
        ({"source": "https://example.org/t.csv", "path": "t.csv"}, "data.sha256: Value error, required when"),
        ({"source": "../t.csv"}, "data.source: Value error, points outside the project root"),
        ({"source": "t.csv", "path": "t.csv"}, "t.csv: file not found; put your training table (CSV or Parquet) there"),
        ({"source": "os:getcwd", "path": "t.csv"}, "data.source: the loader os:getcwd returned a str ("),
        ({"source": "{{ cookiecutter.package }}.nothing:load", "path": "t.csv"}, "data.source: cannot import"),
        ({"source": "file:///nonexistent/t.csv", "path": "t.csv", "sha256": "0" * 64}, "cannot download file:///"),
    ],
    ids=["http", "no-sha256", "outside", "missing-file", "not-a-dataframe", "no-loader", "unreachable"],
)
def test_data_with_a_bad_source_exits_two_and_writes_nothing(project: Path, data: dict[str, str], message: str) -> None:
    configure(project, lambda raw: raw.update(data=data))
    result = run(project, "data")
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert message in result.output
    assert not (project / "t.csv").exists()


ECHO_SERVICE = """
import bentoml


@bentoml.service
class Echo:
    @bentoml.api
    def echo(self, text: str) -> str:
        return text
"""


@pytest.mark.slow  # builds a bento (a one-line service: the archive's mode is the point, not its content)
@pytest.mark.filterwarnings("ignore:path is deprecated:DeprecationWarning")  # in BentoML's build, on importlib
def test_an_exported_bento_is_readable_by_its_owner_only(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bentoml

    context = tmp_path / "echo"
    context.mkdir()
    (context / "echo_service.py").write_text(ECHO_SERVICE)
    monkeypatch.chdir(context)
    monkeypatch.syspath_prepend(str(context))
    bento = bentoml.bentos.build(
        "echo_service:Echo", name="export-mode", build_ctx=str(context), python={"lock_packages": False}
    )
    (project / "out").mkdir()
    result = run(project, "export", "--bento", str(bento.tag), "--output-dir", str(project / "out"))
    assert result.exit_code == 0, result.output
    archive = project / "out" / f"export-mode-{bento.tag.version}.bento"
    assert result.output == f"exported {bento.tag} to {archive}\n"
    assert [path.name for path in (project / "out").iterdir()] == [archive.name]  # no temporary left
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # it holds the model and its training sample
    with tarfile.open(archive) as bundle:
        assert any(Path(name).name == "bento.yaml" for name in bundle.getnames())


@pytest.mark.slow  # a real `predict` process, killed while it writes a large output
def test_a_killed_predict_leaves_a_temporary_that_the_next_run_removes(
    project: Path, trained: tuple[Settings, str], frame: pd.DataFrame
) -> None:
    """SIGKILL runs no cleanup code: the hidden temporary stays until the next run to that output removes it."""
    _, tag = trained
    write_table(pd.concat([frame] * 100, ignore_index=True), project / "big.parquet")
    (project / "out").mkdir()
    output = project / "out" / "scored.csv"
    command = [
        str(Path(sys.executable).parent / "{{ cookiecutter.package }}"),
        "--config",
        str(project / "config" / "project.yaml"),
    ]
    arguments = ["predict", "--input", str(project / "big.parquet"), "--output", str(output), "--model", tag]
    started = time.monotonic()
    with subprocess.Popen([*command, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as writer:
        while not (temporaries := list(output.parent.glob(".scored.csv.*.tmp"))) and writer.poll() is None:
            assert time.monotonic() - started < 120, "predict never started writing"
            time.sleep(0.005)
        writer.send_signal(signal.SIGKILL)
        _, errors = writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL, errors
    assert [path.exists() for path in temporaries] == [True]
    assert not output.exists()
    rerun = run(project, *arguments)
    assert rerun.exit_code == 0, rerun.output
    assert [path.name for path in output.parent.iterdir()] == ["scored.csv"]
    assert len(read_table(output)) == len(frame) * 100


def test_edge_writes_the_bundle_of_a_version_with_a_graph(project: Path, contract: Contract) -> None:
    linear = "Ridge" if contract.task == "regression" else "LogisticRegression"

    def change(raw: dict[str, Any]) -> None:  # an estimator that converts, whatever the project's contract holds
        raw["model_name"] = "edge-flow"
        raw["training"] |= {"params": {}, "estimator": f"sklearn.linear_model:{linear}"}
        lax = Objectives(min_r2=-1e9) if contract.task == "regression" else Objectives(min_roc_auc=0)
        gate_on(lax)(raw)  # the gate is not what this tests: a linear model may miss the project's objectives

    write_data(project, configure(project, change), synthetic_frame(contract, 300))
    trained = run(project, "train")
    assert trained.exit_code == 0, trained.output
    assert re.search(r"^ONNX graph: \d+ KB, opset \d+, skl2onnx .*; parity: \d+ rows, ", trained.output, re.M)
    assert re.search(r"^edge-flow:\S+ .* yes ", run(project, "models").output, re.M)
    result = run(project, "edge")
    assert result.exit_code == 0, result.output
    (bundle,) = (path for path in (project / "dist" / "edge").iterdir() if path.is_dir())
    assert {path.name for path in bundle.iterdir()} == set(BUNDLE_FILES)
    with tarfile.open(bundle.with_name(f"{bundle.name}.tar.gz")) as packed:
        assert f"{bundle.name}/model.onnx" in packed.getnames()


def test_edge_without_a_graph_exits_two_or_skips_when_optional(project: Path) -> None:
    (project / "config" / "contract.yaml").write_text(yaml.safe_dump(MIXED.model_dump(mode="json")))

    def change(raw: dict[str, Any]) -> None:  # HistGradientBoosting's native categorical splits do not convert
        raw["model_name"] = "edge-none"
        raw["training"] |= {"params": {}, "estimator": "sklearn.ensemble:HistGradientBoostingClassifier"}
        gate_on(passing_objectives(MIXED))(raw)

    write_data(project, configure(project, change), synthetic_frame(MIXED, 300))
    assert run(project, "train").exit_code == 0
    refused = run(project, "edge")
    assert refused.exit_code == 2
    no_graph = r"error: edge-none:\S+ has no ONNX graph, so no edge bundle: none: HistGradientBoosting"
    assert re.match(no_graph, refused.output)
    listed = run(project, "models").output.splitlines()
    assert re.match(
        r"edge-none:\S+: no ONNX graph: HistGradientBoostingClassifier did not convert to ONNX: ", listed[-1]
    )
    skipped = run(project, "edge", "--optional")
    assert skipped.exit_code == 0
    assert skipped.output.startswith("skipped: edge-none:")
    assert not (project / "dist" / "edge").exists()
