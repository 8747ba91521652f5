"""Print how long a user waits, with a warm package cache.

1. generate-to-green: `cookiecutter` with the defaults, then the generated `make install test`
   (`make test` is the fast tier, `pytest -m "not slow"`; target: under 60 s in all);
2. the generated `make test-slow` (the slow tier, which CI runs as a job of its own: not part of
   generate-to-green), `make data train`, then `make docs` (model card and strict site build);
3. the whole `make demo`.

A first untimed bake warms uv's cache, so the figures measure the template, not the network.
Run with `make bench`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
WORK = TEMPLATE / ".bench"


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def generate_to_green(run: int, env: dict[str, str]) -> dict[str, float]:
    out = WORK / f"run{run}"
    shutil.rmtree(out, ignore_errors=True)
    uv = env["UV"]
    steps = {
        "cookiecutter": ([*uv.split(), "run", "--locked", "cookiecutter", "--no-input", "-o", str(out), "."], TEMPLATE),
        "make install": (["make", f"UV={uv}", "install"], out / "breast-cancer-classifier"),
        "make test": (["make", f"UV={uv}", "test"], out / "breast-cancer-classifier"),  # the fast tier
    }
    return {name: timed(command, cwd, env) for name, (command, cwd) in steps.items()}


def main() -> None:
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env.setdefault("UV", shutil.which("uv") or "uv")
    shutil.rmtree(WORK, ignore_errors=True)
    print("warming the package cache (untimed bake and install)...", flush=True)
    generate_to_green(0, env)
    steps = generate_to_green(1, env)
    project = WORK / "run1" / "breast-cancer-classifier"
    after = {
        target: timed(["make", f"UV={env['UV']}", *target.split()], project, env)
        for target in ("test-slow", "data train", "docs")
    }
    demo = timed(["make", "demo"], TEMPLATE, env)
    shutil.rmtree(WORK, ignore_errors=True)

    print(f"\n{'step':<28}{'seconds':>8}")
    for name, seconds in steps.items():
        print(f"{name:<28}{seconds:>8.1f}")
    total = sum(steps.values())
    print(f"{'generate-to-green (total)':<28}{total:>8.1f}   target < 60 s: {'met' if total < 60 else 'MISSED'}")
    for target, seconds in after.items():
        note = "   the slow tier: not part of generate-to-green" if target == "test-slow" else ""
        print(f"{'make ' + target:<28}{seconds:>8.1f}{note}")
    print(f"{'make demo (whole)':<28}{demo:>8.1f}")
    print(f"\n{os.cpu_count()} cores, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
