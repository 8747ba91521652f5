"""data.py: the three kinds of data.source `make data` accepts, tables in and out, and file hashes.

Every table is made from the project's contract (support.synthetic_frame); URLs are file:// URLs
to local files or https:// URLs to a closed local port, so nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet
import pytest
import yaml

from {{ cookiecutter.package }}.contract import CategoricalTarget, Contract, ContractViolationError
from {{ cookiecutter.package }}.data import (
    download,
    file_sha256,
    git_ignores,
    load_from_loader,
    prepare_data,
    read_table,
    resolve_source,
    write_table,
)
from {{ cookiecutter.package }}.errors import ConfigError, DataError
from {{ cookiecutter.package }}.settings import Settings, load_settings

from .support import ROOT, break_first_feature, synthetic_frame

CONFIGURED = load_settings(ROOT / "config" / "project.yaml")


def test_the_configured_data_source_gives_a_table_the_contract_accepts(contract: Contract) -> None:
    """A loader gives the same valid table on every call; a file in the repository is valid as committed."""
    data = CONFIGURED.data
    if data.kind == "url":
        pytest.skip("a URL data.source is checked by `make data`: the tests stay offline")
    if data.kind == "file":
        frame = read_table(CONFIGURED.data_path)
    else:
        frame = load_from_loader(data.source)
        pd.testing.assert_frame_equal(load_from_loader(data.source), frame)  # the same table on every call
    checked = contract.validate_frame(frame, source=data.source, with_target=True)
    assert list(checked.columns) == [*contract.feature_names, contract.target.name]
    assert len(checked) == len(frame) > 0
    if isinstance(contract.target, CategoricalTarget):
        assert set(checked[contract.target.name]) == set(contract.target.classes)  # every class occurs


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_round_trip(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"x": [1.5, 2.5], "id": ["a", "b"]})
    path = tmp_path / f"table{suffix}"
    write_table(frame, path)
    pd.testing.assert_frame_equal(read_table(path), frame, check_dtype=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    write_table(pd.DataFrame({"x": [1]}), path)
    before = path.read_bytes()
    with pytest.raises((TypeError, ValueError)):
        write_table(pd.DataFrame({"x": [object()]}), path)  # pyarrow cannot store a bare object
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("data.txt", b"x\n1\n", "unsupported file type '.txt'"),
        ("missing.csv", None, "file not found"),
        ("broken.parquet", b"not parquet", "cannot be read as parquet"),
        ("binary.csv", b"\xff\xfe\x00\x81", "cannot be read as csv"),
    ],
)
def test_bad_files_are_data_errors_naming_the_file(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_table(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_repeated_column_name_is_refused_by_name(tmp_path: Path, suffix: str) -> None:
    """pandas would read a CSV's second ``x`` as ``x.1``; pyarrow fails on the Parquet one with a riddle."""
    path = tmp_path / f"table{suffix}"
    if suffix == ".csv":
        path.write_text("x,y,x,y,z\n1,2,3,4,5\n")
    else:
        columns = [pa.array([1.0]) for _ in range(5)]
        pyarrow.parquet.write_table(pa.table(columns, names=["x", "y", "x", "y", "z"]), path)
    with pytest.raises(DataError) as caught:
        read_table(path)
    assert str(caught.value) == (
        f"{path}: duplicate column names ['x', 'y']: each column may appear once; rename or drop the copies"
    )


@pytest.mark.parametrize(("delimiter", "named"), [(";", "semicolons (;)"), ("\t", "tabs"), ("|", "pipes (|)")])
def test_a_csv_separated_by_another_delimiter_says_so(tmp_path: Path, delimiter: str, named: str) -> None:
    path = tmp_path / "table.csv"
    path.write_text(f"\nx{delimiter}y{delimiter}z\n1{delimiter}2{delimiter}3\n")  # blank first line, as pandas skips
    with pytest.raises(DataError) as caught:
        read_table(path)
    message = str(caught.value)
    header = f"x{delimiter}y{delimiter}z"
    assert message.startswith(f"{path}: the header is one column, {header!r}, separated by {named} instead of commas")
    assert f"pandas.read_csv(path, sep={delimiter!r}).to_csv(path, index=False)" in message
    assert "\n" not in message


def test_a_one_column_csv_without_those_delimiters_is_read(tmp_path: Path) -> None:
    (tmp_path / "table.csv").write_text("x, y\n1\n")
    assert list(read_table(tmp_path / "table.csv").columns) == ["x", " y"]
    (tmp_path / "one.csv").write_text("x-y z\n1\n")
    assert list(read_table(tmp_path / "one.csv").columns) == ["x-y z"]


KILLED_WRITER = """
import sys, time
from pathlib import Path
from {{ cookiecutter.package }}.data import atomic_write
with atomic_write(Path(sys.argv[1])) as temporary:
    temporary.write_bytes(b"x" * 1_000_000)
    print(temporary, flush=True)
    time.sleep(60)
"""


def test_the_temporary_of_a_killed_write_is_removed_by_the_next_one(tmp_path: Path) -> None:
    """SIGKILL runs no cleanup code: the next write to the same file removes what the dead one left."""
    target = tmp_path / "scored.csv"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        temporary = Path(writer.stdout.readline().strip())
        assert temporary.parent == tmp_path
        assert temporary.name.startswith(".scored.csv.")
        write_table(pd.DataFrame({"x": [1]}), target)  # a live run's temporary is left alone
        assert temporary.stat().st_size == 1_000_000
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=10)
    assert writer.returncode == -signal.SIGKILL
    assert temporary.exists()
    write_table(pd.DataFrame({"x": [2]}), target)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["scored.csv"]
    assert read_table(target)["x"].tolist() == [2]


def test_a_loader_is_imported_by_name() -> None:
    assert resolve_source("os:getcwd") is importlib.import_module("os").getcwd


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ cookiecutter.package }}.data:no_such_loader", "cannot import"),
        ("no_such_package.loaders:load", "cannot import"),
        ("{{ cookiecutter.package }}.data:FORMATS", "is not a function"),
    ],
)
def test_a_data_source_that_does_not_resolve_is_a_config_error(source: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"data\.source: .*{message}"):
        resolve_source(source)


def test_file_hashes_change_with_the_content(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("x\n1\n")
    first = file_sha256(path)
    path.write_text("x\n2\n")
    assert first != file_sha256(path)
    assert len(first) == 64


# --- `make data` with each kind of data.source -----------------------------------------------


def settings_with(root: Path, data: dict[str, Any]) -> Settings:
    """The project's settings with ``data`` as the data section, for a project rooted at ``root``."""
    raw = yaml.safe_load((ROOT / "config" / "project.yaml").read_text())
    raw |= {"data": data, "contract": str(ROOT / "config" / "contract.yaml")}
    path = root / "config" / "project.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    return load_settings(path)


def files_in(folder: Path) -> list[str]:
    """Every file below ``folder``, hidden ones included (a left-over temporary file shows here)."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def loaders(monkeypatch: pytest.MonkeyPatch, contract: Contract) -> str:
    """An importable module of loaders: one returning a table of the contract, two returning something else."""
    module = types.ModuleType("test_data_loaders")
    vars(module).update(
        table=lambda: synthetic_frame(contract, 80, seed=3),
        as_list=lambda: [1, 2, 3],
        nothing=lambda: None,
    )
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module.__name__


@pytest.fixture
def published(tmp_path: Path, contract: Contract) -> Path:
    """A table of the contract outside the project, as a server (here: a file:// URL) would publish it."""
    path = tmp_path / "published" / "table.csv"
    write_table(synthetic_frame(contract, 60, seed=4), path)
    return path


def test_a_loader_table_is_checked_and_written_to_data_path(tmp_path: Path, contract: Contract, loaders: str) -> None:
    settings = settings_with(tmp_path, {"source": f"{loaders}:table", "path": "data/cache/table.parquet"})
    assert settings.data.kind == "loader"
    prepared = prepare_data(settings, contract)
    assert prepared.path == settings.data_path == tmp_path / "data" / "cache" / "table.parquet"
    assert prepared.message == f"wrote 80 rows to {prepared.path}"
    assert prepared.warnings == ()  # not a git work tree: nothing to say about .gitignore
    pd.testing.assert_frame_equal(read_table(prepared.path), synthetic_frame(contract, 80, seed=3), check_dtype=False)


@pytest.mark.parametrize(("loader", "returned"), [("as_list", "a list ([1, 2, 3])"), ("nothing", "None")])
def test_a_loader_that_returns_no_dataframe_is_named_with_what_it_returned(
    tmp_path: Path, contract: Contract, loaders: str, loader: str, returned: str
) -> None:
    settings = settings_with(tmp_path, {"source": f"{loaders}:{loader}", "path": "data/cache/table.csv"})
    with pytest.raises(DataError) as caught:
        prepare_data(settings, contract)
    assert str(caught.value) == (
        f"data.source: the loader {loaders}:{loader} returned {returned}, not a pandas DataFrame"
    )
    assert caught.value.exit_code == 2
    assert not (tmp_path / "data").exists()


def test_a_loader_table_that_breaks_the_contract_writes_nothing(
    tmp_path: Path, contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken, _ = break_first_feature(synthetic_frame(contract, 40), contract, 3)
    module = types.ModuleType("test_data_broken_loader")
    vars(module).update(load=lambda: broken)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    settings = settings_with(tmp_path, {"source": f"{module.__name__}:load", "path": "data/cache/table.csv"})
    with pytest.raises(ContractViolationError):
        prepare_data(settings, contract)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("prefix", ["", "./"])
def test_a_file_in_the_repository_is_checked_and_nothing_is_written(
    tmp_path: Path, contract: Contract, suffix: str, prefix: str
) -> None:
    source = f"data/train{suffix}"
    write_table(synthetic_frame(contract, 50, seed=1), tmp_path / source)
    settings = settings_with(tmp_path, {"source": source, "path": prefix + source})
    before = {name: sha256_of(tmp_path / name) for name in files_in(tmp_path)}
    assert settings.data.kind == "file"
    assert settings.data_path == tmp_path / source
    prepared = prepare_data(settings, contract)
    assert prepared.path == tmp_path / source
    assert prepared.rows == 50
    assert prepared.message == (
        f"ok: 50 rows of {tmp_path / source} satisfy the data contract (a file in the repository: nothing written)"
    )
    assert {name: sha256_of(tmp_path / name) for name in files_in(tmp_path)} == before


def test_a_missing_file_source_is_a_data_error_naming_it(tmp_path: Path, contract: Contract) -> None:
    settings = settings_with(tmp_path, {"source": "data/train.csv", "path": "data/train.csv"})
    with pytest.raises(DataError, match=r"^data\.source: .*data/train\.csv: file not found; put your training table"):
        prepare_data(settings, contract)


def test_a_file_source_that_breaks_the_contract_is_refused(tmp_path: Path, contract: Contract) -> None:
    broken, problem = break_first_feature(synthetic_frame(contract, 40), contract, 2)
    broken.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ContractViolationError, match=re.escape(f"{problem.column}: {problem.rule}")):
        prepare_data(settings_with(tmp_path, {"source": "train.csv", "path": "train.csv"}), contract)


def test_a_file_source_linked_from_outside_the_project_is_refused(
    tmp_path: Path, contract: Contract, published: Path
) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "train.csv").symlink_to(published)
    settings = settings_with(project, {"source": "data/train.csv", "path": "data/train.csv"})
    with pytest.raises(ConfigError) as caught:
        prepare_data(settings, contract)
    message = str(caught.value)
    assert message.startswith(f"data.source: data/train.csv resolves to {published}, outside the project root")
    assert "copy the file into the project and commit it" in message


def test_a_url_is_downloaded_verified_and_renamed_onto_data_path(
    tmp_path: Path, contract: Contract, published: Path
) -> None:
    project = tmp_path / "project"
    digest = sha256_of(published)
    data = {"source": published.as_uri(), "path": "data/cache/train.csv", "sha256": digest.upper()}
    settings = settings_with(project, data)
    assert (settings.data.kind, settings.data.sha256) == ("url", digest)
    prepared = prepare_data(settings, contract)
    target = project / "data" / "cache" / "train.csv"
    assert prepared.path == target
    assert target.read_bytes() == published.read_bytes()
    assert (
        prepared.message == f"downloaded 60 rows from {published.as_uri()} to {target} (sha256 {digest[:12]} verified)"
    )
    assert files_in(project / "data") == ["cache/train.csv"]  # no temporary file left beside it

    again = prepare_data(settings, contract)
    assert again.message == (
        f"{target} already holds {published.as_uri()} (sha256 {digest[:12]}): download skipped; "
        "60 rows satisfy the data contract"
    )


def test_a_url_replaces_an_older_table_at_data_path(tmp_path: Path, contract: Contract, published: Path) -> None:
    project = tmp_path / "project"
    settings = settings_with(
        project, {"source": published.as_uri(), "path": "data/cache/train.csv", "sha256": sha256_of(published)}
    )
    write_table(synthetic_frame(contract, 10, seed=9), settings.data_path)  # last month's download
    assert prepare_data(settings, contract).message.startswith("downloaded 60 rows")
    assert settings.data_path.read_bytes() == published.read_bytes()


@pytest.mark.parametrize("old_table", [False, True])
def test_a_wrong_checksum_names_both_and_leaves_nothing(
    tmp_path: Path, contract: Contract, published: Path, old_table: bool
) -> None:
    project = tmp_path / "project"
    expected = "0" * 64
    settings = settings_with(
        project, {"source": published.as_uri(), "path": "data/cache/train.csv", "sha256": expected}
    )
    if old_table:
        write_table(synthetic_frame(contract, 10, seed=9), settings.data_path)
    before = {name: sha256_of(project / name) for name in files_in(project)}
    with pytest.raises(DataError) as caught:
        prepare_data(settings, contract)
    assert str(caught.value).startswith(
        f"data.sha256: {published.as_uri()} has sha256 {sha256_of(published)}, expected {expected}; nothing was written"
    )
    assert caught.value.exit_code == 2
    assert {name: sha256_of(project / name) for name in files_in(project)} == before  # old table untouched


def test_a_downloaded_table_that_breaks_the_contract_is_not_kept(tmp_path: Path, contract: Contract) -> None:
    broken, _ = break_first_feature(synthetic_frame(contract, 40), contract, 2)
    published = tmp_path / "broken.csv"
    broken.to_csv(published, index=False)
    project = tmp_path / "project"
    data = {"source": published.as_uri(), "path": "data/cache/train.csv", "sha256": sha256_of(published)}
    with pytest.raises(ContractViolationError, match=published.as_uri()):
        prepare_data(settings_with(project, data), contract)
    assert files_in(project / "data") == []


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("where", ["missing file", "closed port"])
def test_an_unreachable_url_is_a_data_error_with_the_reason(
    tmp_path: Path, contract: Contract, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setenv("NO_PROXY", "*")  # a proxy of the machine running the tests must not answer instead
    url, reason = {
        "missing file": ((tmp_path / "nowhere.csv").as_uri(), "No such file or directory"),
        "closed port": (f"https://127.0.0.1:{closed_port()}/table.csv", "Connection refused"),
    }[where]
    project = tmp_path / "project"
    settings = settings_with(project, {"source": url, "path": "data/cache/train.csv", "sha256": "0" * 64})
    with pytest.raises(DataError) as caught:
        prepare_data(settings, contract)
    assert str(caught.value).startswith(f"data.source: cannot download {url}: ")
    assert reason in str(caught.value)
    assert files_in(project / "data") == []


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    """A local plain-HTTP server whose every path redirects to another plain-HTTP URL."""

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1/elsewhere.csv")  # refused, so never fetched
            self.end_headers()

        def log_message(self, *args: object) -> None:  # keep the test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/table.csv"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_download_never_follows_a_redirect_to_plain_http(
    tmp_path: Path, redirecting_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "*")
    with pytest.raises(
        DataError,
        match=r"cannot download .*: HTTP 302 redirected to http://127\.0\.0\.1/elsewhere\.csv, which is not https://",
    ):
        download(redirecting_server, tmp_path / "table.csv")


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A git work tree holding the project's own .gitignore."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    return tmp_path


def test_the_gitignore_keeps_generated_tables_out_and_committed_ones_in(repository: Path) -> None:
    configured = load_settings(ROOT / "config" / "project.yaml").data  # a file source is committed, the rest written
    ignored = [Path("data/cache/train.csv"), Path("data/cache/.train.csv.x1y2.tmp"), Path("data/.t.csv.x.tmp")]
    tracked = [Path("data/train.csv"), Path("data/train.parquet"), Path("data/README.md"), Path("data/2025/q1.csv")]
    (tracked if configured.kind == "file" else ignored).append(configured.path)
    assert {path: git_ignores(repository / path, repository) for path in ignored + tracked} == {
        **dict.fromkeys(ignored, True),
        **dict.fromkeys(tracked, False),
    }
    assert git_ignores(repository.parent / "elsewhere.csv", repository) is None  # outside the project
    assert git_ignores(repository.parent / "x.csv", repository.parent) is None  # not a git work tree


def test_make_data_warns_when_git_would_not_carry_the_data(repository: Path, contract: Contract, loaders: str) -> None:
    write_table(synthetic_frame(contract, 20), repository / "data" / "cache" / "mine.csv")
    ignored = settings_with(repository, {"source": "data/cache/mine.csv", "path": "data/cache/mine.csv"})
    (warning,) = prepare_data(ignored, contract).warnings
{%- if cookiecutter.data_versioning == "dvc" %}
    assert warning.startswith("data.source data/cache/mine.csv is git-ignored (DVC tracks it instead), so CI has it")
{%- else %}
    assert warning.startswith("data.source data/cache/mine.csv is git-ignored, so CI will not have it")
{%- endif %}

    written = settings_with(repository, {"source": f"{loaders}:table", "path": "data/table.csv"})
    (warning,) = prepare_data(written, contract).warnings
    assert warning.startswith("data.path data/table.csv is not git-ignored")
    cached = settings_with(repository, {"source": f"{loaders}:table", "path": "data/cache/table.csv"})
    assert prepare_data(cached, contract).warnings == ()
