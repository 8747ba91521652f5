"""A real `serve`: BentoML in a subprocess on a free port, probed, queried and stopped by its PID."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from {{ cookiecutter.package }}.contract import Contract
from {{ cookiecutter.package }}.settings import load_settings

from .support import ROOT, bad_field

pytestmark = pytest.mark.slow  # a real server starts in a subprocess: `make test-slow`, not `make test`

CLI = str(Path(sys.executable).with_name("{{ cookiecutter.package }}"))
SERVICE_NAME = load_settings(ROOT / "config" / "project.yaml").model_name.replace("_", "-")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, payload, kind = response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        status, payload, kind = error.code, error.read(), error.headers.get_content_type()
    return status, json.loads(payload) if kind == "application/json" else payload.decode()


def serve_env(tag: str, port: int, log_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("API_KEY", "PROMETHEUS_MULTIPROC_DIR")}
    overrides = json.dumps(dict(services={SERVICE_NAME: dict(workers=1)}))  # BentoML's run-time override
    return env | {
        "MODEL_TAG": tag,
        "BENTOML_PORT": str(port),
        "PREDICTION_LOG_DIR": str(log_dir),
        "BENTOML_CONFIG_OVERRIDES": overrides,
    }


@contextmanager
def serving(tag: str, folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real server of ``tag`` (one worker), logging into ``folder``; stopped with SIGTERM at the end."""
    port = free_port()
    output = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [CLI, "serve"], cwd=ROOT, env=serve_env(tag, port, folder / "log"), stdout=output, stderr=output
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process, folder)
        yield base, process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        output.close()


def wait_until_ready(base: str, process: subprocess.Popen[bytes], folder: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, (folder / "server.log").read_text()
        try:
            if call(f"{base}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"not ready in {seconds} s:\n{(folder / 'server.log').read_text()}")


@pytest.fixture(scope="module")
def server(trained: tuple[Any, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("serve")
    with serving(trained[1], folder) as (base, _):
        yield base, folder


def answer_keys(contract: Contract) -> set[str]:
    return {"prediction", "model_version"} | ({"probabilities"} if contract.task == "classification" else set())


def test_the_real_server_answers_and_says_it_runs_without_a_key(
    server: tuple[str, Path], records: list[dict[str, Any]], contract: Contract, trained: tuple[Any, str]
) -> None:
    base, folder = server
    status, answer = call(f"{base}/predict", records[0])
    assert status == 200
    assert set(answer) == answer_keys(contract)
    assert answer["model_version"] == trained[1]
    status, answers = call(f"{base}/predict_batch", records[:2])
    assert (status, len(answers)) == (200, 2)
    same = answers[0]  # one row or two in a model call: the same answer, up to float rounding
    assert same["model_version"] == answer["model_version"]
    if contract.task == "regression":
        assert same["prediction"] == pytest.approx(answer["prediction"])
    else:
        assert same["prediction"] == answer["prediction"]
        assert same["probabilities"] == pytest.approx(answer["probabilities"])
    name, value, _ = bad_field(contract, "unknown-field") or pytest.fail("a contract always allows an extra field")
    status, error = call(f"{base}/predict", records[0] | {name: value})
    assert status == 400
    assert error["detail"][0]["loc"] == [name]
    assert "API_KEY is not set: the API accepts requests without a key" in (folder / "server.log").read_text()


def test_the_real_server_logs_what_it_answers(
    server: tuple[str, Path], records: list[dict[str, Any]], trained: tuple[Any, str]
) -> None:
    base, folder = server
    sent = records[10:13]
    status, answers = call(f"{base}/predict_batch", sent)
    assert status == 200
    deadline, logged = time.monotonic() + 10, []
    while time.monotonic() < deadline:  # the log is written off the request path
        lines = [
            json.loads(line) for path in (folder / "log").glob("*.jsonl") for line in path.read_text().splitlines()
        ]
        logged = [row for row in lines if {name: row[name] for name in sent[0]} in sent]
        if len(logged) >= len(sent):
            break
        time.sleep(0.2)
    assert [{name: row[name] for name in sent[0]} for row in logged] == sent
    assert [row["prediction"] for row in logged] == [answer["prediction"] for answer in answers]
    assert {row["model_version"] for row in logged} == {trained[1]}


def test_the_real_server_exposes_prometheus_metrics(
    server: tuple[str, Path], record: dict[str, Any], contract: Contract
) -> None:
    base, _ = server
    call(f"{base}/predict", record)
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert "bentoml_service_request_total" in metrics
    assert "model_predictions_total{prediction=" in metrics
    per_task = "model_prediction_score_bucket" if contract.task == "classification" else "model_prediction_value_count"
    assert per_task in metrics


def test_a_missing_model_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    done = subprocess.run(
        [CLI, "serve"],
        cwd=ROOT,
        env=serve_env("nosuchversion", free_port(), tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "error: cannot start the service: model '" in done.stderr
    assert ":nosuchversion' is not in the model store" in done.stderr
    assert "run `make train`" in done.stderr


def metric_lines(base: str) -> list[str]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        return [line for line in response.read().decode().splitlines() if not line.startswith("#")]


def in_progress(base: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metric_lines(base) if "request_in_progress{" in line)


def workers(process: subprocess.Popen[bytes]) -> list[int]:
    """The PIDs of the server's live workers (a killed one is a zombie until the arbiter reaps it)."""
    found = []
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            if "_bentoml_impl.worker.service" in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:  # a zombie, or gone
            pass
    return found


def test_the_real_server_refuses_huge_headers_and_closes_slow_ones(server: tuple[str, Path]) -> None:
    base, _ = server
    address = ("127.0.0.1", int(base.rsplit(":", 1)[1]))
    serving_settings = load_settings(ROOT / "config" / "project.yaml").serving
    with socket.create_connection(address, timeout=10) as connection:
        big = b"a" * (serving_settings.max_header_bytes + 1000)
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big + b"\r\n\r\n")
        assert connection.recv(65536).startswith(b"HTTP/1.1 431")
    with socket.create_connection(address, timeout=serving_settings.header_timeout_s + 10) as connection:
        began = time.monotonic()
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        assert connection.recv(1) == b""
    assert time.monotonic() - began >= serving_settings.header_timeout_s - 0.5


def test_a_killed_worker_leaves_no_gauges_behind(trained: tuple[Any, str], tmp_path: Path) -> None:
    with serving(trained[1], tmp_path) as (base, process):
        (worker,) = workers(process)
        port = int(base.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        for connection in held:  # requests in progress until the worker dies: a body that never ends
            connection.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
            connection.sendall(b"Content-Length: 1000\r\n\r\n{")
        deadline = time.monotonic() + 20
        while in_progress(base) < len(held) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert in_progress(base) >= len(held)
        os.kill(worker, signal.SIGKILL)
        for connection in held:
            connection.close()
        deadline = time.monotonic() + 90
        while not (restarted := [pid for pid in workers(process) if pid != worker]) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert restarted, "the killed worker was not restarted"
        wait_until_ready(base, process, tmp_path)
        assert in_progress(base) == 0
        assert not [line for line in metric_lines(base) if f'pid="{worker}"' in line]


def read_fifo(path: Path, writer_gone: Callable[[], bool], seconds: float = 30) -> bytes:
    """What a writer sends through the FIFO ``path`` until it closes it, or b"" if it exits without opening it."""
    received, seen_writer = b"", False
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # lets a writer blocked in open() go on
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                chunk = os.read(descriptor, 65536)
            except BlockingIOError:  # a writer is connected, nothing to read yet
                seen_writer = True
                time.sleep(0.02)
                continue
            received += chunk
            seen_writer = seen_writer or bool(chunk)
            if not chunk and (seen_writer or writer_gone()):
                return received
            time.sleep(0.02 if chunk else 0.1)
    finally:
        os.close(descriptor)
    pytest.fail(f"the FIFO {path} was neither written and closed nor abandoned in {seconds} s")


def test_sigterm_writes_every_queued_row_before_the_server_exits(
    trained: tuple[Any, str], records: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Rows still queued at SIGTERM are written: the log's disk stalls until the server is stopping.

    The worker's log file is a FIFO made in advance, so the writer thread blocks opening it and every
    answered row stays queued; the test reads the FIFO only once the worker runs its shutdown hooks
    (or has exited without writing).
    """
    batches = [records[start : start + 300] for start in range(0, 600, 300)] * 5  # 3000 rows
    with serving(trained[1], tmp_path) as (base, process):
        (worker,) = workers(process)
        (tmp_path / "log").mkdir(exist_ok=True)
        fifo = tmp_path / "log" / f"predictions-{datetime.now(UTC):%Y-%m-%d}-{worker}-0.jsonl"
        os.mkfifo(fifo)
        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(lambda batch: call(f"{base}/predict_batch", batch)[0], batches))
        os.kill(process.pid, signal.SIGTERM)
        server_log = tmp_path / "server.log"
        deadline = time.monotonic() + 30
        while worker in workers(process) and "Running cleanup hook" not in server_log.read_text():
            assert time.monotonic() < deadline, "the worker neither stopped nor ran its shutdown hooks"
            time.sleep(0.1)
        written = read_fifo(fifo, lambda: worker not in workers(process))
        process.wait(timeout=60)
    assert statuses == [200] * len(batches)
    assert len(written.splitlines()) == sum(len(batch) for batch in batches)
