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

from {{ cookiecutter.package }}.settings import load_settings

from .support import ROOT

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


def test_the_real_server_answers_and_says_it_runs_without_a_key(
    server: tuple[str, Path], record: dict[str, float], trained: tuple[Any, str]
) -> None:
    base, folder = server
    status, answer = call(f"{base}/predict", record)
    assert status == 200
    assert answer["model_version"] == trained[1]
    status, answers = call(f"{base}/predict_batch", [record, record])
    assert (status, len(answers)) == (200, 2)
    status, error = call(f"{base}/predict", record | {"mean_radius": -3})
    assert status == 400
    assert error["detail"][0]["loc"] == ["mean_radius"]
    assert "API_KEY is not set: serving without authentication" in (folder / "server.log").read_text()


def test_the_real_server_exposes_prometheus_metrics(server: tuple[str, Path], record: dict[str, float]) -> None:
    base, _ = server
    call(f"{base}/predict", record)
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert "bentoml_service_request_total" in metrics
    assert "model_predictions_total" in metrics


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
