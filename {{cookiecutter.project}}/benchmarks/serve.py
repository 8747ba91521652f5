"""`make bench-serve`: the BentoML service on each runtime against a plain FastAPI server, same model, same load.

Four servers, one after the other, each with the service's worker count on loopback: the service
answering from the version's ONNX graph (when it has one), the same with its prediction log shipped
to a local S3 server (moto, niced; files rotated every 2 s, so uploads run under the load; these two
are up together, each load runs on them in rounds of A B B A, and the two are compared round by
round, in req/s and in the service's CPU time per request), the service on the scikit-learn
pipeline, and the FastAPI server a user would write by hand (scikit-learn). wrk sends single
records at 1, 8, 32 and 64 concurrent connections and batches of 128 records at 8 connections.
Also prints the model's own in-process time for 1 and 128 rows on each runtime, the floor for any
server. Needs `wrk` (Debian: apt-get install wrk). Bounded: every run lasts BENCH_SECONDS
(default 8), after a short warm-up of each server, and only targets 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pyarrow.fs
import yaml

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.model import Model
from {{ cookiecutter.package }}.settings import CONFIG_ENV, load_settings

ROOT = Path(__file__).resolve().parents[1]
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = 3  # of the two servers compared side by side
WARM_UP_SECONDS = 4  # each server's, before it is measured: two rotations of the shipped log
CONNECTIONS = (1, 8, 32, 64)
BATCH_ROWS, BATCH_CONNECTIONS = 128, 8
RUNS = [*(f"single c={c}" for c in CONNECTIONS), f"batch {BATCH_ROWS} c={BATCH_CONNECTIONS}"]
Spec = Callable[[int], tuple[list[str], dict[str, str], str]]  # port -> command, environment, readiness path
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


def wrk(url: str, connections: int, body: Path, script: Path, seconds: int = SECONDS) -> dict[str, float]:
    """One bounded wrk run: req/s, p50 and p99 in ms, and failed requests."""
    threads = min(2, connections)
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
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


@contextmanager
def s3_store(scratch: Path) -> Iterator[tuple[dict[str, str], Callable[[], int]]]:
    """A local S3 server, and a config rotating the log every 2 s: the remote run's environment, an object count.

    The server runs at the lowest CPU priority: it stands for a remote store, whose work is not the service's.
    """
    port = free_port()
    command = ["nice", "-n", "19", sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = start(command, os.environ.copy(), f"http://127.0.0.1:{port}/moto-api/", scratch / "moto.log")
    keys = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_EC2_METADATA_DISABLED": "true"}
    os.environ.update(keys)
    query = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    filesystem, _ = pyarrow.fs.FileSystem.from_uri(f"s3://bench?{query}&allow_bucket_creation=true")
    filesystem.create_dir("bench")
    raw = yaml.safe_load((ROOT / "config" / "project.yaml").read_text(encoding="utf-8"))
    raw.setdefault("serving", {})["prediction_log_rotate_s"] = 2
    config = ROOT / "config" / f".bench-serve-{os.getpid()}.yaml"  # in config/: the project root is its parent
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")

    def shipped() -> int:
        found = filesystem.get_file_info(pyarrow.fs.FileSelector("bench", recursive=True, allow_not_found=True))
        return sum(info.type == pyarrow.fs.FileType.File for info in found)

    env = keys | {"PREDICTION_LOG_URI": f"s3://bench/log?{query}", CONFIG_ENV: str(config)}
    try:
        yield env | {"PREDICTION_LOG_DIR": str(scratch / "buffer")}, shipped
    finally:
        config.unlink(missing_ok=True)
        stop(server)


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

    def service(runtime: str, extra: dict[str, str]) -> Spec:
        return lambda port: (
            [cli, "serve"],
            env | {"BENTOML_PORT": str(port), "SERVING_RUNTIME": runtime} | extra,
            "/readyz",
        )

    servers = {runtime: service(runtime, {}) for runtime in runtimes}
    servers["fastapi"] = lambda port: ([*uvicorn, "--port", str(port), "--log-level", "warning"], env, "/docs")
    local, remote = runtimes[0], f"{runtimes[0]}+s3"
    with s3_store(scratch) as (remote_env, shipped):
        slices = load({local: servers[local], remote: service(local, remote_env)}, scratch)
        objects = shipped()
    for name, spec in servers.items():
        if name != local:
            slices |= load({name: spec}, scratch)
    results = {name: {run: mean(slices[name][run]) for run in RUNS} for name in (local, remote, *servers)}
    report(results, runtimes, workers)
    for key, what in (("rps", "req/s"), ("cpu ms", "service CPU per request")):
        ratios = {run: paired_ratio(slices[remote][run], slices[local][run], key) for run in RUNS}
        print(
            f"remote log / local log on {local}, {what} (median of {ROUNDS} A B B A rounds, lowest-highest): "
            + ", ".join(f"{m:.3f} ({low:.3f}-{high:.3f}) at {run}" for run, (m, low, high) in ratios.items())
        )
    errors = sum(r["errors"] for r in results[remote].values())
    print(f"remote log: {errors:.0f} errors; {objects} log objects shipped to S3 (moto)")
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


def service_cpu_s(process: subprocess.Popen[bytes]) -> float:
    """CPU seconds used so far by a server and its workers (the store's server is not one of them)."""
    tree = psutil.Process(process.pid)
    total = 0.0
    for member in [tree, *tree.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def run_load(process: subprocess.Popen[bytes], base: str, run: str, scratch: Path, seconds: int) -> dict[str, float]:
    """One of RUNS against the server at ``base``, with the server's CPU milliseconds per request."""
    before = service_cpu_s(process)
    if run.startswith("single"):
        result = wrk(f"{base}/predict", int(run.rsplit("=", 1)[1]), scratch / "one.json", scratch / "post.lua", seconds)
    else:
        result = wrk(f"{base}/predict_batch", BATCH_CONNECTIONS, scratch / "batch.json", scratch / "post.lua", seconds)
        result["rows/s"] = result["rps"] * BATCH_ROWS
    result["cpu ms"] = (service_cpu_s(process) - before) * 1000 / max(result["rps"] * seconds, 1)
    return result


def load(specs: dict[str, Spec], scratch: Path) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Start these servers together and run every load on each: the slices of each run, per server.

    Two servers run ROUNDS rounds of A B B A, each slice half a run: side by side, an idle server
    costs nothing, and what else the machine does weighs on both alike; round by round, a change
    of the machine's load mid-run falls on one round, not on one server.
    """
    processes: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for name, spec in specs.items():
            port = free_port()
            command, server_env, probe = spec(port)
            base = f"http://127.0.0.1:{port}"
            processes[name] = (start(command, server_env, base + probe, scratch / f"{name}.log"), base)
        for _, base in processes.values():  # not measured: lazy imports, and the store's first upload
            wrk(f"{base}/predict", BATCH_CONNECTIONS, scratch / "one.json", scratch / "post.lua", WARM_UP_SECONDS)
        paired = len(specs) > 1
        order = [*specs, *reversed(specs)] * ROUNDS if paired else list(specs)
        seconds = max(2, SECONDS // 2) if paired else SECONDS
        slices: dict[str, dict[str, list[dict[str, float]]]] = {name: {run: [] for run in RUNS} for name in specs}
        for run in RUNS:
            for name in order:
                slices[name][run].append(run_load(*processes[name], run, scratch, seconds))
    finally:
        for process, _ in processes.values():
            stop(process)
    return slices


def mean(slices: list[dict[str, float]]) -> dict[str, float]:
    """Each figure averaged over a run's slices."""
    return {key: statistics.fmean(s[key] for s in slices) for key in slices[0]}


def paired_ratio(ours: list[dict[str, float]], base: list[dict[str, float]], key: str) -> tuple[float, float, float]:
    """Median, lowest and highest of the rounds' ratios of ``key`` (two slices of each server a round)."""
    rounds = [
        sum(s[key] for s in ours[i : i + 2]) / sum(s[key] for s in base[i : i + 2]) for i in range(0, len(base), 2)
    ]
    return statistics.median(rounds), min(rounds), max(rounds)


def report(results: dict[str, dict[str, dict[str, float]]], runtimes: list[str], workers: int) -> None:
    """The table, and each runtime against the FastAPI baseline."""
    print(f"\n{workers} workers each, {SECONDS} s per run, {os.cpu_count()} cores (wrk shares them)")
    print("CPU ms: the server's CPU time per request (its processes, not wrk's nor the store's)\n")
    print(f"{'run':<18}{'server':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'CPU ms':>8}{'rows/s':>10}")
    for run in results["fastapi"]:
        for name in results:
            r = results[name][run]
            rows_s = f"{r['rows/s']:>10.0f}" if "rows/s" in r else ""
            figures = f"{r['rps']:>9.0f}{r['p50']:>9.2f}{r['p99']:>9.1f}{r['errors']:>8.0f}{r['cpu ms']:>8.2f}"
            print(f"{run:<18}{name:<10}{figures}{rows_s}")
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


if __name__ == "__main__":
    main()
