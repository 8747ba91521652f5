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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="module")
def server(trained: tuple[Any, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    port, folder = free_port(), tmp_path_factory.mktemp("serve")
    output = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [CLI, "serve"], cwd=ROOT, env=serve_env(trained[1], port, folder / "log"), stdout=output, stderr=output
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, (folder / "server.log").read_text()
            try:
                if call(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"not ready in 90 s:\n{(folder / 'server.log').read_text()}")
        yield base, folder
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        output.close()


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
