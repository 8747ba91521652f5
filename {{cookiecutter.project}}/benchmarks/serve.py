"""`make bench-serve`: the BentoML service on each runtime against a plain FastAPI server, same model, same load.

Three servers, one after the other, each with the service's worker count on loopback: the service
answering from the version's ONNX graph (when it has one), the service on the scikit-learn
pipeline, and the FastAPI server a user would write by hand (scikit-learn). wrk sends single
records at 1, 8, 32 and 64 concurrent connections and batches of 128 records at 8 connections.
Also prints the model's own in-process time for 1 and 128 rows on each runtime, the floor for any
server. Needs `wrk` (Debian: apt-get install wrk). Bounded: every run lasts BENCH_SECONDS
(default 8) and only targets 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.model import Model
from {{ cookiecutter.package }}.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
CONNECTIONS = (1, 8, 32, 64)
BATCH_ROWS, BATCH_CONNECTIONS = 128, 8
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY_FILE"), "r")
wrk.body = f:read("*a"); f:close()
done = function(summary, latency, requests)
  io.write(string.format("RESULT %f %f %f %d %d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(command: list[str], env: dict[str, str], ready_url: str, log: Path) -> subprocess.Popen[bytes]:
    """Start a server and wait until ``ready_url`` answers."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{command[0]} exited during start-up:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(ready_url, timeout=2):  # noqa: S310  (loopback only)
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    sys.exit(f"not ready after 120 s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server by its PID."""
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def wrk(url: str, connections: int, body: Path, script: Path) -> dict[str, float]:
    """One bounded wrk run: req/s, p50 and p99 in ms, and failed requests."""
    threads = min(2, connections)
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{SECONDS}s", "--latency", "-s", str(script), url],
        env=os.environ | {"BODY_FILE": str(body)},
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"RESULT (\S+) (\S+) (\S+) (\d+) (\d+)", done.stdout)
    if not found:
        sys.exit(f"unexpected wrk output:\n{done.stdout}{done.stderr}")
    rps, p50, p99, non2xx, errors = found.groups()
    return {"rps": float(rps), "p50": float(p50), "p99": float(p99), "errors": int(non2xx) + int(errors)}


def model_floor(models: dict[str, Model], rows: list[dict[str, Any]]) -> dict[str, float]:
    """Milliseconds per prediction of 1 and of 128 rows in process: records on each runtime, and a DataFrame.

    Records are the service's path; a DataFrame per request through scikit-learn is the baseline's.
    """
    import pandas as pd
    from threadpoolctl import threadpool_limits

    def from_frame(some: list[dict[str, Any]]) -> object:
        return models["sklearn"].predict_frame(pd.DataFrame(some))

    calls = {f"records {runtime}": model.predict_records for runtime, model in models.items()}
    floor = {}
    with threadpool_limits(limits=1):
        for size in (1, BATCH_ROWS):
            for path, call in (*calls.items(), ("frame sklearn", from_frame)):
                start = time.perf_counter()
                for _ in range(200):
                    call(rows[:size])
                floor[f"{path} {size}"] = (time.perf_counter() - start) / 200 * 1000
    return floor


def main() -> None:
    """Run both servers under the same load and print the table."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `sudo apt-get install wrk` (or your OS's package), then re-run")
    settings = load_settings(ROOT / "config" / "project.yaml")
    registry.use_project_store(settings)
    model = registry.load(settings, os.environ.get("MODEL_TAG") or None, runtime="auto")
    runtimes = ["onnx", "sklearn"] if model.runtime == "onnx" else ["sklearn"]
    if model.runtime != "onnx":
        print(f"{model.tag} has no ONNX graph ({model.metadata.get('onnx', {}).get('reason', 'not converted')})")
    features = model.reference[model.contract.feature_names].head(BATCH_ROWS).astype(object)
    rows = [{str(k): None if v != v else v for k, v in row.items()} for row in features.to_dict("records")]
    workers = settings.serving.workers

    scratch = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    (scratch / "post.lua").write_text(WRK_SCRIPT)
    (scratch / "one.json").write_text(json.dumps(rows[0]))
    (scratch / "batch.json").write_text(json.dumps(rows))
    env = {key: value for key, value in os.environ.items() if key not in ("API_KEY", "API_KEY_FILE")}
    env |= {"MODEL_TAG": model.tag, "PREDICTION_LOG_DIR": str(scratch / "log"), "OMP_NUM_THREADS": "1"}
    cli = str(Path(sys.executable).with_name("{{ cookiecutter.package }}"))
    uvicorn = [sys.executable, "-m", "uvicorn", "benchmarks.fastapi_baseline:app", "--workers", str(workers)]
    servers: dict[str, Callable[[int], tuple[list[str], dict[str, str], str]]] = {
        runtime: lambda port, runtime=runtime: (  # type: ignore[misc]
            [cli, "serve"],
            env | {"BENTOML_PORT": str(port), "SERVING_RUNTIME": runtime},
            "/readyz",
        )
        for runtime in runtimes
    }
    servers["fastapi"] = lambda port: ([*uvicorn, "--port", str(port), "--log-level", "warning"], env, "/docs")
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, spec in servers.items():
        port = free_port()
        command, server_env, probe = spec(port)
        base = f"http://127.0.0.1:{port}"
        process = start(command, server_env, base + probe, scratch / f"{name}.log")
        try:
            results[name] = {
                f"single c={c}": wrk(f"{base}/predict", c, scratch / "one.json", scratch / "post.lua")
                for c in CONNECTIONS
            }
            batch = wrk(f"{base}/predict_batch", BATCH_CONNECTIONS, scratch / "batch.json", scratch / "post.lua")
            results[name][f"batch {BATCH_ROWS} c={BATCH_CONNECTIONS}"] = batch | {"rows/s": batch["rps"] * BATCH_ROWS}
        finally:
            stop(process)

    print(f"\n{workers} workers each, {SECONDS} s per run, {os.cpu_count()} cores (wrk shares them)\n")
    print(f"{'run':<18}{'server':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'rows/s':>10}")
    for run in results["fastapi"]:
        for name in results:
            r = results[name][run]
            rows_s = f"{r['rows/s']:>10.0f}" if "rows/s" in r else ""
            print(f"{run:<18}{name:<9}{r['rps']:>9.0f}{r['p50']:>9.2f}{r['p99']:>9.1f}{r['errors']:>8.0f}{rows_s}")
    baseline = results["fastapi"]
    batches = f"batch {BATCH_ROWS} c={BATCH_CONNECTIONS}"
    print()
    for runtime in runtimes:
        ours = results[runtime]
        print(
            f"service on {runtime} / fastapi: {ours['single c=32']['rps'] / baseline['single c=32']['rps']:.1f}x "
            f"req/s at 32 connections, {ours[batches]['rows/s'] / baseline[batches]['rows/s']:.1f}x rows/s in "
            f"batches of {BATCH_ROWS}; p99 {ours['single c=64']['p99']:.0f} ms and "
            f"{ours['single c=64']['errors']:.0f} errors at 64; p50 {ours['single c=1']['p50']:.2f} ms at 1"
        )
    models = {runtime: model if runtime == model.runtime else model.with_graph(None) for runtime in runtimes}
    floor = model_floor(models, rows)
    print(
        "model alone, in process (1 thread), ms for 1 and "
        + f"{BATCH_ROWS} rows: "
        + "; ".join(
            f"{path} {floor[f'{path} 1']:.3f} and {floor[f'{path} {BATCH_ROWS}']:.3f}"
            for path in (*[f"records {r}" for r in runtimes], "frame sklearn")
        )
    )
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
