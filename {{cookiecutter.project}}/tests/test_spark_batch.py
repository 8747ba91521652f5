"""The Spark engine of `predict`: the pandas engine's output on local Spark, its contract errors, clear setup errors."""

from __future__ import annotations

import builtins
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from {{ cookiecutter.package }} import spark_batch
from {{ cookiecutter.package }}.cli import main
from {{ cookiecutter.package }}.contract import ContractViolationError, Problem
from {{ cookiecutter.package }}.data import read_table, write_table
from {{ cookiecutter.package }}.errors import ConfigError
from {{ cookiecutter.package }}.predict import predict_file
from {{ cookiecutter.package }}.settings import Settings

from .support import MIXED, ROOT, mixed_frame, train_on

# pyspark 4.3 warns on every pandas conversion that pandas 3 is not fully supported; the output is checked here.
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


@pytest.fixture(scope="module")
def mixed_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    return train_on(tmp_path_factory.mktemp("spark"), MIXED, model_name="spark-mixed", rows=600)


@pytest.fixture(scope="module")
def spark() -> Any:
    pytest.importorskip("pyspark", reason="the optional group: uv sync --group spark")
    session = spark_batch.session("local[2]")
    yield session
    session.stop()


@pytest.mark.slow  # starts a JVM and a local Spark
def test_spark_gives_the_output_of_the_pandas_engine(
    spark: Any, mixed_model: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, tag = mixed_model
    rows = mixed_frame(500, seed=5).drop(columns="churned").assign(row_id=range(500))
    write_table(rows, tmp_path / "in.parquet")
    result = spark_batch.predict_spark(settings, str(tmp_path / "in.parquet"), str(tmp_path / "out"), tag)
    expected = predict_file(settings, tmp_path / "in.parquet", tmp_path / "pandas.parquet", tag)
    assert (result.rows, result.tag) == (expected.rows, expected.tag) == (500, tag)
    on_spark = pd.read_parquet(tmp_path / "out").sort_values("row_id").reset_index(drop=True)
    on_pandas = read_table(tmp_path / "pandas.parquet")
    pd.testing.assert_frame_equal(on_spark, on_pandas, check_dtype=False)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # the temporary was moved


@pytest.mark.slow  # starts a JVM and a local Spark
def test_spark_counts_bad_rows_over_partitions_and_writes_nothing(
    spark: Any, mixed_model: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, tag = mixed_model
    rows = mixed_frame(400, seed=6).drop(columns="churned")
    rows.loc[[3, 150, 399], "tenure_months"] = 10_000.0
    rows.loc[[7, 200], "plan"] = "enterprise"
    spark.createDataFrame(rows).repartition(4).write.parquet(str(tmp_path / "in"))
    with pytest.raises(ContractViolationError) as caught:
        spark_batch.predict_spark(settings, str(tmp_path / "in"), str(tmp_path / "out"), tag)
    assert sorted(caught.value.problems, key=str) == [
        Problem("plan", "must be one of ['basic', 'pro', 'team']", 2),
        Problem("tenure_months", "must be <= 240", 3),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.slow  # starts a JVM and a local Spark
def test_a_local_spark_gets_a_heap_for_its_task_slots(spark: Any) -> None:
    """Spark's 1g default ran out writing 10M rows on local[2]; the session asks for more unless told."""
    heap_mb = spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory() / 2**20
    wanted = int(spark_batch.local_driver_memory(2).removesuffix("m"))
    assert heap_mb > 0.85 * wanted > 1024  # the JVM keeps a little of -Xmx for itself


@pytest.mark.parametrize(
    ("master", "slots"),
    [("local", 1), ("local[2]", 2), ("local[3,2]", 3), ("local[*]", -1), (None, -1), ("yarn", 0), ("spark://h", 0)],
)
def test_local_masters_count_their_task_slots(monkeypatch: pytest.MonkeyPatch, master: str | None, slots: int) -> None:
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    assert spark_batch.local_slots(master) == (os.cpu_count() if slots == -1 else slots)


def test_a_master_from_spark_submit_arguments_gets_no_local_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--master yarn pyspark-shell")
    assert spark_batch.local_slots(None) == 0


def test_the_local_heap_grows_with_slots_and_stays_under_half_the_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = dict(SC_PAGE_SIZE=4096, SC_PHYS_PAGES=64 * 2**30 // 4096)  # a 64 GB machine
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    assert [spark_batch.local_driver_memory(n) for n in (1, 2, 8, 200)] == ["1536m", "2048m", "5120m", "32768m"]
    pages["SC_PHYS_PAGES"] = 2 * 2**30 // 4096  # 2 GB: never below Spark's own 1g
    assert spark_batch.local_driver_memory(8) == "1024m"


def test_missing_pyspark_names_the_optional_group(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pyspark(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(ConfigError, match=r"needs pyspark, which is not installed: .*uv sync --group spark"):
        spark_batch.require_spark()


def test_missing_java_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="the optional group: uv sync --group spark")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # no bin/java in it
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=r"needs Java 17 or newer, which was not found .* set JAVA_HOME"):
        spark_batch.require_spark()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--engine", "spark", "--input", "in.parquet"], "--engine spark needs --input URI and --output URI"),
        (["--input", "config"], "config: is a folder; the pandas engine reads one .csv or .parquet file"),
    ],
    ids=["spark-without-output", "pandas-given-a-folder"],
)
def test_the_engines_refuse_what_they_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str
) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    monkeypatch.chdir(tmp_path)  # relative paths, as typed in a project
    result = CliRunner().invoke(main, ["--config", "config/project.yaml", "predict", *arguments])
    assert result.exit_code == 2, result.output
    assert message in result.output
