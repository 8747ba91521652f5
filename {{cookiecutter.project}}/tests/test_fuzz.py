"""Schemathesis against the service's own OpenAPI: whatever the input, never a 5xx, and answers as documented.

In process, seeded and bounded for the test suite (1000 cases by default, weighted to the endpoints
with a body); then schemathesis's own runner with every check (``--checks all``) against a real
server with a key, as an outside audit runs it. `make fuzz FUZZ_EXAMPLES=n` runs n cases per
endpoint (and per operation in the full run, 100 by default).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from .support import ROOT
from .test_serve import CLI, free_port, serve_env

pytestmark = pytest.mark.slow  # about 30 s of requests: `make test-slow` (and `make fuzz`), not `make test`

KEY = {"X-API-Key": "test-key"}
DEFAULT_EXAMPLES = {"/predict": 700, "/predict_batch": 200, "/model_info": 100}
BODY_KEYS = ("method", "url", "headers", "params", "json", "data", "content", "files")  # no cookies in this API


def examples(path: str) -> int:
    return int(os.environ.get("FUZZ_EXAMPLES") or DEFAULT_EXAMPLES[path])


@pytest.fixture(scope="module")
def client(asgi_app: Any) -> Iterator[TestClient]:
    with TestClient(asgi_app, headers=KEY) as client:  # one client: the service starts once
        yield client


@pytest.fixture(scope="module")
def operations(asgi_app: Any) -> dict[str, Any]:
    schema = schemathesis.openapi.from_asgi("/docs.json", asgi_app, headers=KEY)
    found = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    return {operation.path: operation for operation in found if operation.method == "post"}


def test_the_schema_lists_every_prediction_endpoint(operations: dict[str, Any]) -> None:
    assert set(operations) == set(DEFAULT_EXAMPLES)


@pytest.mark.parametrize("path", list(DEFAULT_EXAMPLES))
def test_no_generated_request_gets_a_server_error(client: TestClient, operations: dict[str, Any], path: str) -> None:
    sent: list[int] = []

    @given(case=operations[path].as_strategy())
    @settings(max_examples=examples(path), derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        request = case.as_transport_kwargs(base_url=str(client.base_url), headers=KEY)
        response = client.request(**{key: value for key, value in request.items() if key in BODY_KEYS})
        sent.append(response.status_code)
        assert response.status_code < 500, f"{response.status_code} for {case.as_curl_command()}: {response.text}"

    check()
    assert len(sent) == examples(path)


# -- schemathesis as an outsider runs it: every check, against a real server with a key ------------

REQUIRED_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
SEED = "20261202"


@pytest.fixture(scope="module")
def real_server(trained: tuple[Any, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``serve`` in a subprocess, with the key on, as deployed."""
    port, folder = free_port(), tmp_path_factory.mktemp("fuzz-serve")
    env = serve_env(trained[1], port, folder / "log") | {"API_KEY": KEY["X-API-Key"]}
    with (folder / "server.log").open("w") as output:
        process = subprocess.Popen([CLI, "serve"], cwd=ROOT, env=env, stdout=output, stderr=output)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while call(f"{base}/readyz") != 200:
                assert process.poll() is None, (folder / "server.log").read_text()
                assert time.monotonic() < deadline, (folder / "server.log").read_text()
                time.sleep(0.5)
            yield base
        finally:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def call(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def check_counts(events: Path) -> dict[str, Counter[str]]:
    """Per check, how many cases passed and failed, from schemathesis's NDJSON event report."""
    counts: dict[str, Counter[str]] = {}
    for line in events.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        for results in (finished or {}).get("recorder", {}).get("checks", {}).values():
            for result in results:
                counts.setdefault(result["name"], Counter())[result["status"]] += 1
    return counts


def test_schemathesis_finds_nothing_with_every_check(real_server: str, tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    command = [SCHEMATHESIS, "run", f"{real_server}/docs.json", "--checks", "all", "--continue-on-failure"]
    command += [
        "-H",
        f"X-API-Key: {KEY['X-API-Key']}",
        "--seed",
        SEED,
        "--max-examples",
        os.environ.get("FUZZ_EXAMPLES") or "100",
    ]
    command += ["--report", "ndjson", "--report-ndjson-path", str(events)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path, check=False)
    counts = check_counts(events)
    print("\nschemathesis --checks all, per check (success / failure):")  # the counts the closing note cites
    for name, count in sorted(counts.items()):
        print(f"  {name:32} {count['success']:6} / {count['failure']}")
    summary = done.stdout[done.stdout.find("SUMMARY") :]
    for name in REQUIRED_CHECKS:
        assert counts[name]["failure"] == 0, f"{name} failed:\n{summary}"
    assert counts["not_a_server_error"]["success"] >= 500, summary  # it really ran


def test_the_real_server_does_not_name_itself(real_server: str) -> None:
    request = urllib.request.Request(f"{real_server}/healthz")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers.get("server") is None
        assert response.headers["x-content-type-options"] == "nosniff"
