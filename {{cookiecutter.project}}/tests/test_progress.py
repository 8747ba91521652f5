"""Progress on stderr: a live bar on a terminal (a pty here), occasional plain lines in a pipe, nothing when quiet."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from {{ cookiecutter.package }} import progress
from {{ cookiecutter.package }}.cli import main
from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.data import write_table
from {{ cookiecutter.package }}.drift import check_drift
from {{ cookiecutter.package }}.predict import predict_file
from {{ cookiecutter.package }}.settings import Settings
from {{ cookiecutter.package }}.train import train

from .support import MIXED, ROOT, mixed_frame, passing_objectives, settings_in, train_on

WORK = """
import sys, time
from {{ cookiecutter.package }} import progress
progress.set_quiet(sys.argv[1] == "quiet")
with progress.track("predict", 4000) as tracker:
    for _ in range(4):
        time.sleep(0.05)
        tracker.advance(1000)
print("result on stdout")
"""


@pytest.fixture
def every_advance(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain line at every advance instead of every 10 s, so short work shows what long work would."""
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)


def run_on_a_terminal(mode: str, work: str = WORK) -> tuple[str, str]:
    """``work`` with stderr on a pseudo-terminal and stdout on a pipe; (what the terminal showed, stdout)."""
    leader, follower = pty.openpty()
    done = subprocess.run(
        [sys.executable, "-c", work, mode],
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            piece = os.read(leader, 65536)
        except OSError:  # the terminal closed: everything was read
            break
        if not piece:
            break
        shown += piece
    os.close(leader)
    return shown.decode(errors="replace"), done.stdout


def test_a_terminal_gets_a_bar_with_done_total_and_rate() -> None:
    shown, stdout = run_on_a_terminal("show")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)  # without the terminal's control sequences
    assert "predict" in plain
    assert "4000/4000 rows" in plain
    assert re.search(r"[\d,]+ rows/s", plain)
    assert "\x1b[" in shown  # drawn live, redrawn in place
    assert stdout == "result on stdout\n"  # the bar never reaches stdout


def test_quiet_shows_nothing_even_on_a_terminal() -> None:
    shown, stdout = run_on_a_terminal("quiet")
    assert "predict" not in shown
    assert stdout == "result on stdout\n"


def test_a_pipe_gets_plain_lines_with_rate_and_time_left(
    every_advance: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with progress.track("drift", 3000, unit="rows") as tracker:
        for _ in range(3):
            tracker.advance(1000)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4  # one a part, one at the end
    assert re.fullmatch(r"drift: 1,000 of 3,000 rows \(33%\), [\d,]+ rows/s, about \d+ s left", lines[0])
    assert re.fullmatch(r"drift: 3,000 rows in \d+ s \([\d,]+ rows/s\)", lines[-1])


def test_short_work_in_a_pipe_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress.track("predict", None) as tracker:
        tracker.advance(10)
    assert capsys.readouterr().err == ""


def test_unknown_totals_show_rows_and_rate(every_advance: None, capsys: pytest.CaptureFixture[str]) -> None:
    with progress.track("predict", None) as tracker:
        tracker.advance(500)
    assert re.fullmatch(r"predict: 500 rows, [\d,]+ rows/s", capsys.readouterr().err.splitlines()[0])


def test_failed_work_ends_without_a_last_line(every_advance: None, capsys: pytest.CaptureFixture[str]) -> None:
    def fail_halfway() -> None:
        with progress.track("predict", 10) as tracker:
            tracker.advance(5)
            raise RuntimeError("bad input")

    with pytest.raises(RuntimeError):
        fail_halfway()
    assert [line.split(":")[0] for line in capsys.readouterr().err.splitlines()] == ["predict"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_batch_prediction_reports_its_chunks(
    trained: tuple[Settings, str],
    frame: pd.DataFrame,
    tmp_path: Path,
    suffix: str,
    every_advance: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, tag = trained
    write_table(frame.head(30), tmp_path / f"in{suffix}")
    predict_file(settings, tmp_path / f"in{suffix}", tmp_path / f"out{suffix}", tag, chunk_rows=10)
    lines = capsys.readouterr().err.splitlines()
    total = " of 30 rows (33%)" if suffix == ".parquet" else " rows, "  # a CSV's rows are known once read
    assert lines[0].startswith("predict: 10")
    assert total in lines[0]
    assert lines[-1].startswith("predict: 30 rows in ")


@pytest.fixture
def loud_again() -> Iterator[None]:
    yield
    progress.set_quiet(False)


def test_the_cli_quiet_flag_silences_batch_prediction(
    trained: tuple[Settings, str],
    frame: pd.DataFrame,
    tmp_path: Path,
    every_advance: None,
    loud_again: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    result = CliRunner().invoke(main, ["--quiet", "--config", str(tmp_path / "config" / "project.yaml"), "models"])
    assert result.exit_code == 0, result.output
    settings, tag = trained
    write_table(frame.head(30), tmp_path / "in.csv")
    predict_file(settings, tmp_path / "in.csv", tmp_path / "out.csv", tag, chunk_rows=10)
    assert capsys.readouterr().err == ""


def test_a_phase_says_how_long_it_took_on_a_terminal() -> None:
    work = "from {{ cookiecutter.package }} import progress\nwith progress.phase('train: fitting'):\n    pass\n"
    shown, _ = run_on_a_terminal("show", work)
    assert re.search(r"train: fitting: \d+\.\d s", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown))


def test_a_long_phase_gets_one_line_in_a_pipe(every_advance: None, capsys: pytest.CaptureFixture[str]) -> None:
    with progress.phase("contract: reading big.csv"):
        pass
    assert re.fullmatch(r"contract: reading big.csv: \d+ s\n", capsys.readouterr().err)


def test_a_short_phase_prints_nothing_in_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    with progress.phase("train: fitting"):
        pass
    assert capsys.readouterr().err == ""


def test_training_says_each_phase_in_a_log(
    tmp_path: Path, contract: Contract, frame: pd.DataFrame, every_advance: None, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_in(tmp_path, plots=True, objectives=passing_objectives(contract))
    write_table(frame, settings.data_path)
    train(settings, contract)
    phases = [line.rsplit(": ", 1)[0] for line in capsys.readouterr().err.splitlines() if line.startswith("train: ")]
    assert phases[0] == "train: reading and checking data.csv"
    assert re.fullmatch(r"train: fitting \S+ on [\d,]+ rows", phases[1])
    assert re.fullmatch(r"train: scoring [\d,]+ hold-out rows", phases[2])
    assert phases[3:] == ["train: converting to ONNX and checking parity", "train: drawing the hold-out plots"]


def test_the_drift_check_counts_the_rows_it_checks(
    tmp_path: Path, every_advance: None, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _ = train_on(tmp_path / "model", MIXED, model_name="progress-drift", rows=600)
    current = tmp_path / "current.parquet"
    write_table(mixed_frame(1200, seed=3).drop(columns="churned"), current)
    check_drift(settings.model_copy(update=dict(drift=settings.drift.model_copy(update=dict(min_rows=10)))), current)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("drift: ")]
    assert lines[0].startswith(f"drift: indexing {current}: ")
    assert "drift: checking the current data: 1,200 rows in " in "\n".join(lines)
    assert lines[-1].startswith("drift: Evidently report on 1,200 current rows: ")
