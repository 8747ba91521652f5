"""The load test: one replica driven at ``objectives.expected_rps`` by locust, gated on the service objectives.

Locust (a real load generator, from PyPI) runs in its own process: it monkey-patches the standard
library with gevent, which must never happen inside this one. Each simulated user sends one record
of the model's reference sample to ``/predict``, waits for the answer, and paces itself to a fixed
rate; the users together ask for ``expected_rps``. A service slower than the pace cannot keep it,
so a missed rate shows as such instead of queueing without end. Without ``--url`` the built bento
is served on a free local port, with a throw-away API key and prediction log (synthetic traffic
must not reach the log that drift checks read).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import bentoml
from bentoml.exceptions import NotFound

from .data import atomic_write
from .errors import GateFailedError, ProjectError
from .model import Model
from .settings import Objectives, Settings

BENTO = "{{ cookiecutter.project }}:latest"  # `make build` names the bento after the distribution
RPS_SHARE = 0.95  # of expected_rps the run must achieve: locust's pacing and start-up lose a little
SUMMARY_NAME = "loadtest.json"  # in reports_dir
LOCUSTFILE = Path(__file__).with_name("loadtest_user.py")
READY_TIMEOUT_S = 180  # a bento's workers load the model and answer a warm-up prediction first
RECORDS = 200  # distinct reference records the users cycle through


@dataclass(frozen=True)
class Pace:
    """How locust is driven: ``users`` users, each at most ``user_rps`` requests per second."""

    users: int
    user_rps: float

    @classmethod
    def of(cls, objectives: Objectives) -> Pace:
        """Enough users that each waits at least twice the latency objective between its requests.

        A user waits for its answer before the next request, so one user alone cannot ask for more
        than 1 / latency requests per second; twice the objective leaves the headroom a service
        within its objective needs to keep the rate.
        """
        most_per_user = 1000 / (2 * objectives.max_p95_latency_ms)
        users = max(1, math.ceil(objectives.expected_rps / most_per_user))
        return cls(users, objectives.expected_rps / users)


def summary_path(settings: Settings) -> Path:
    """Where the last load test's summary is written (the model card reads it)."""
    return settings.resolve(settings.reports_dir) / SUMMARY_NAME


def free_port() -> int:
    """A TCP port nothing listens on now, on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, api_key: str | None, timeout_s: float = 5) -> bytes:
    request = urllib.request.Request(url, headers={"X-API-Key": api_key} if api_key else {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (http(s) only: checked)
        body: bytes = response.read()
    return body


def check_reachable(url: str, api_key: str | None) -> None:
    """Exit 2 unless ``url`` answers ``/readyz`` with 200: a load test of nothing measures nothing."""
    if not url.startswith(("http://", "https://")):
        raise ProjectError(f"--url {url}: expected an http:// or https:// address of the service")
    try:
        _get(f"{url}/readyz", api_key)
    except (urllib.error.URLError, OSError) as exc:
        raise ProjectError(
            f"--url {url}: the service does not answer {url}/readyz ({exc}): start it, or fix the URL"
        ) from None


def served_model(url: str, api_key: str | None) -> dict[str, Any]:
    """What the service at ``url`` answers with (its ``/model_info``: tag, runtime, ...)."""
    request = urllib.request.Request(  # noqa: S310 (the URL passed check_reachable)
        f"{url}/model_info",
        data=b"{}",
        headers={"Content-Type": "application/json", **({"X-API-Key": api_key} if api_key else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            info: dict[str, Any] = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ProjectError(f"{url}/model_info did not answer ({exc}): is API_KEY the service's key?") from None
    return info


@contextmanager
def serve_bento(bento: str, root: Path) -> Iterator[tuple[str, str]]:
    """Serve a built bento on a free loopback port; yields its URL and the API key it requires."""
    try:
        bentoml.bentos.get(bento)
    except NotFound:
        raise ProjectError(f"bento {bento!r} is not in the store: run `make build` first") from None
    api_key, port = secrets.token_urlsafe(24), free_port()
    with tempfile.TemporaryDirectory(prefix="loadtest-") as scratch:
        env = os.environ | {
            "API_KEY": api_key,
            "PREDICTION_LOG_DIR": str(Path(scratch) / "predictions"),
            "BENTOML_DO_NOT_TRACK": "true",
        }
        env.pop("API_KEY_FILE", None)
        log = Path(scratch) / "serve.log"
        with log.open("wb") as output:
            command = [sys.executable, "-m", "bentoml", "serve", bento, "--host", "127.0.0.1", "--port", str(port)]
            server = subprocess.Popen(command, cwd=root, env=env, stdout=output, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(server, url, log)
            yield url, api_key
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_ready(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise ProjectError(f"the bento's server exited with status {server.returncode}:\n{tail}")
        try:
            _get(f"{url}/readyz", None, timeout_s=2)
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise ProjectError(f"the bento's server was not ready within {READY_TIMEOUT_S} s (log: {log})")


def run_locust(url: str, api_key: str | None, records: list[dict[str, Any]], pace: Pace, duration_s: int) -> Any:
    """Run locust headless against ``url`` for ``duration_s`` seconds; its final statistics of /predict."""
    with tempfile.TemporaryDirectory(prefix="locust-") as scratch:
        records_file, stats_file = Path(scratch) / "records.json", Path(scratch) / "stats.json"
        records_file.write_text(json.dumps(records), encoding="utf-8")
        env = os.environ | {
            "LOADTEST_RECORDS": str(records_file),
            "LOADTEST_USER_RPS": repr(pace.user_rps),
            "LOADTEST_API_KEY": api_key or "",
        }
        command = [sys.executable, "-m", "locust", "--locustfile", str(LOCUSTFILE), "--headless"]
        command += ["--host", url, "--users", str(pace.users), "--spawn-rate", str(pace.users)]
        command += ["--run-time", f"{duration_s}s", "--stop-timeout", "10", "--only-summary", "--skip-log"]
        command += ["--json-file", str(stats_file.with_suffix("")), "--exit-code-on-error", "0"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not stats_file.is_file():
            raise ProjectError(f"locust failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        entries = json.loads(stats_file.read_text(encoding="utf-8"))
    return next((entry for entry in entries if entry["name"] == "/predict"), None)


def percentile(histogram: Mapping[str, int], share: float) -> float:
    """The response time (ms, as locust rounds it) below which ``share`` of the requests fall."""
    total = sum(histogram.values())
    if total == 0:
        return math.nan
    counted = 0
    for milliseconds, count in sorted((float(key), count) for key, count in histogram.items()):
        counted += count
        if counted >= share * total:
            return milliseconds
    return math.nan  # unreachable: the loop ends at total


def measure(stats: Mapping[str, Any] | None, duration_s: int) -> dict[str, Any]:
    """Achieved rate, error rate and latency percentiles from locust's statistics of /predict."""
    if not stats or not stats["num_requests"]:
        raise GateFailedError(f"no request to /predict completed in {duration_s} s: the service did not answer")
    requests, failures = int(stats["num_requests"]), int(stats["num_failures"])
    span = max(float(stats["last_request_timestamp"]) - float(stats["start_time"]), 1e-9)
    histogram = stats["response_times"]
    return {
        "requests": requests,
        "failures": failures,
        "achieved_rps": round(requests / span, 3),
        "error_rate": round(failures / requests, 6),
        "latency_ms": {
            "p50": percentile(histogram, 0.50),
            "p95": percentile(histogram, 0.95),
            "p99": percentile(histogram, 0.99),
            "max": round(float(stats["max_response_time"]), 3),
        },
    }


@dataclass(frozen=True)
class Verdict:
    """One service objective: the measured value against its limit."""

    setting: str
    measured: float
    limit: float
    met: bool
    miss: str  # the gate's line when it is not met

    def as_json(self) -> dict[str, Any]:
        """The summary's entry: measured, limit, met."""
        return {"measured": self.measured, "limit": self.limit, "met": self.met}


def verdicts(measured: Mapping[str, Any], objectives: Objectives) -> list[Verdict]:
    """Each service objective: the measured value, the limit, and whether it is met."""
    rps, least_rps = measured["achieved_rps"], RPS_SHARE * objectives.expected_rps
    p95, errors = measured["latency_ms"]["p95"], measured["error_rate"]
    return [
        Verdict(
            "expected_rps",
            rps,
            objectives.expected_rps,
            rps >= least_rps,
            f"achieved {rps:g} requests/s, below objectives.expected_rps = {objectives.expected_rps:g} "
            f"(at least {least_rps:g}, {RPS_SHARE * 100:g}% of it, is required)",
        ),
        Verdict(
            "max_p95_latency_ms",
            p95,
            objectives.max_p95_latency_ms,
            p95 <= objectives.max_p95_latency_ms,
            f"p95 latency = {p95:g} ms is above objectives.max_p95_latency_ms = {objectives.max_p95_latency_ms:g}",
        ),
        Verdict(
            "max_error_rate",
            errors,
            objectives.max_error_rate,
            errors <= objectives.max_error_rate,
            f"error rate = {errors:.4f} ({measured['failures']} of {measured['requests']} requests) is above "
            f"objectives.max_error_rate = {objectives.max_error_rate:g}",
        ),
    ]


@dataclass(frozen=True)
class LoadTestResult:
    """The summary written to reports/loadtest.json, and one line per objective it missed."""

    summary: dict[str, Any]
    path: Path
    failures: list[str]


def load_test(settings: Settings, model: Model, url: str | None, duration_s: int, bento: str = BENTO) -> LoadTestResult:
    """Drive the service (``url``, or the built bento served here), write the summary; gate on ``failures``.

    The records come from ``model``'s reference sample; the summary names the version that answered.
    """
    generator = f"locust {_locust_version()}"
    objectives, pace = settings.objectives, Pace.of(settings.objectives)
    records = model.example_records(RECORDS)
    started = time.monotonic()
    if url is None:
        with serve_bento(bento, settings.root) as (served_url, api_key):
            info = served_model(served_url, api_key)
            stats = run_locust(served_url, api_key, records, pace, duration_s)
        target = f"bento {bento}, served here"
    else:
        target, given_key = url.rstrip("/"), os.environ.get("API_KEY") or None
        check_reachable(target, given_key)
        info = served_model(target, given_key)
        stats = run_locust(target, given_key, records, pace, duration_s)
    measured = measure(stats, duration_s)
    found = verdicts(measured, objectives)
    summary = {
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "target": target,
        "model_version": info.get("tag", "unknown"),
        "serving_runtime": info.get("runtime", "unknown"),
        "endpoint": "/predict",
        "generator": generator,
        "duration_s": duration_s,
        "users": pace.users,
        "target_rps": objectives.expected_rps,
        **measured,
        "runtime_s": round(time.monotonic() - started, 1),
        "objectives": {verdict.setting: verdict.as_json() for verdict in found},
        "passed": all(verdict.met for verdict in found),
    }
    path = summary_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return LoadTestResult(summary, path, [verdict.miss for verdict in found if not verdict.met])


def _locust_version() -> str:
    try:
        return version("locust")
    except PackageNotFoundError:
        raise ProjectError("locust is not installed: run `make install` (it is in the dev dependency group)") from None
