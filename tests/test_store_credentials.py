""".github/scripts/with-store-credentials.sh, which monitor.yml and retrain.yml run their store commands through.

Against a stand-in for curl (GitHub's OIDC token endpoint): empty secrets unset, the token and key
files handed to the command and deleted after it, the command's exit code kept.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(".github/scripts/with-store-credentials.sh")
FAKE_CURL = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$CALLS"
[ -z "${CURL_FAILS:-}" ] || { echo "curl: (22) The requested URL returned error: 403" >&2; exit 22; }
echo '{"count": 1, "value": "the-oidc-token"}'
"""
# What the command sees: its environment as JSON, and the content of the files it was pointed at.
SHOW = """import json, os, sys
names = [name for name in ("AWS_WEB_IDENTITY_TOKEN_FILE", "GOOGLE_APPLICATION_CREDENTIALS") if name in os.environ]
files = {name: open(os.environ[name]).read() for name in names}
modes = {name: oct(os.stat(os.path.dirname(os.environ[name])).st_mode & 0o777) for name in files}
print(json.dumps({"env": dict(os.environ), "files": files, "modes": modes}))
sys.exit(int(os.environ.get("EXIT", "0")))
"""
SHOW_COMMAND = (sys.executable, "-c", SHOW)
STORE_VARIABLES = {"AWS_ROLE_ARN", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GOOGLE_CREDENTIALS"}


def run(project: Path, tmp_path: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "curl").write_text(FAKE_CURL)
    (bin_dir / "curl").chmod(stat.S_IRWXU)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    outside = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "GOOGLE_", "AZURE_"))}
    environment = outside | {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(tmp_path / "curl-arguments"),
        "RUNNER_TEMP": str(runner_temp),
    }
    return subprocess.run(
        [str(project / SCRIPT), *command],
        cwd=project,
        env=environment | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def seen(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    assert done.returncode == 0, done.stdout + done.stderr
    shown: dict[str, dict[str, str]] = json.loads(done.stdout)
    return shown


def test_the_script_passes_shellcheck(default_baked: Path) -> None:
    assert os.access(default_baked / SCRIPT, os.X_OK)
    done = subprocess.run(["shellcheck", str(default_baked / SCRIPT)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_empty_secrets_are_unset_and_the_others_pass_through(default_baked: Path, tmp_path: Path) -> None:
    shown = seen(
        run(
            default_baked,
            tmp_path,
            "monitor",
            *SHOW_COMMAND,
            AWS_ROLE_ARN="",
            AWS_REGION="",
            GOOGLE_CREDENTIALS="",
            AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
            AWS_SECRET_ACCESS_KEY="secret",
        )
    )
    store = {key: value for key, value in shown["env"].items() if key in STORE_VARIABLES}
    assert store == {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    assert shown["files"] == {}
    assert not (tmp_path / "curl-arguments").exists()  # no role: no token asked for


def test_a_role_gets_the_oidc_token_in_a_file_deleted_after_the_command(default_baked: Path, tmp_path: Path) -> None:
    shown = seen(
        run(
            default_baked,
            tmp_path,
            "retrain",
            *SHOW_COMMAND,
            AWS_ROLE_ARN="arn:aws:iam::1:role/r",
            AWS_ACCESS_KEY_ID="",
            ACTIONS_ID_TOKEN_REQUEST_URL="https://token.example/?api-version=2.0",
            ACTIONS_ID_TOKEN_REQUEST_TOKEN="request-token",
        )
    )
    assert shown["files"] == {"AWS_WEB_IDENTITY_TOKEN_FILE": "the-oidc-token\n"}
    assert shown["modes"] == {"AWS_WEB_IDENTITY_TOKEN_FILE": "0o700"}
    assert shown["env"]["AWS_ROLE_SESSION_NAME"] == "retrain"
    assert "AWS_ACCESS_KEY_ID" not in shown["env"]
    arguments = (tmp_path / "curl-arguments").read_text().splitlines()
    assert "Authorization: bearer request-token" in arguments
    assert "https://token.example/?api-version=2.0&audience=sts.amazonaws.com" in arguments
    assert not list((tmp_path / "runner-temp").iterdir())  # nothing left once the command ended


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({}, "give it the permission id-token: write"),
        ({"CURL_FAILS": "1"}, "GitHub did not issue a token for sts.amazonaws.com"),
    ],
    ids=["no-permission", "token-refused"],
)
def test_a_role_without_a_token_stops_before_the_command(
    default_baked: Path, tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    if env:
        env |= {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.example/?v=2", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}
    done = run(default_baked, tmp_path, "monitor", "touch", "ran", AWS_ROLE_ARN="arn:aws:iam::1:role/r", **env)
    assert done.returncode == 1
    assert "::error title=No OIDC token::" in done.stdout
    assert reason in done.stdout
    assert not (default_baked / "ran").exists()
    assert not list((tmp_path / "runner-temp").iterdir())


def test_a_google_key_is_a_private_file_and_the_exit_code_is_the_commands(default_baked: Path, tmp_path: Path) -> None:
    key = json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\n..."})
    done = run(default_baked, tmp_path, "monitor", *SHOW_COMMAND, GOOGLE_CREDENTIALS=key, EXIT="3")
    assert done.returncode == 3, done.stderr  # e.g. `make drift` finding drift
    shown = json.loads(done.stdout)
    assert shown["files"] == {"GOOGLE_APPLICATION_CREDENTIALS": key}
    assert shown["modes"] == {"GOOGLE_APPLICATION_CREDENTIALS": "0o700"}
    assert "GOOGLE_CREDENTIALS" not in shown["env"]  # the key is in one place only
    assert not list((tmp_path / "runner-temp").iterdir())


def test_without_a_command_it_says_how_to_call_it(default_baked: Path, tmp_path: Path) -> None:
    done = run(default_baked, tmp_path, "monitor")
    assert done.returncode == 2
    assert "usage: " in done.stderr
    assert "SESSION_NAME COMMAND [ARGUMENT...]" in done.stderr


@pytest.mark.parametrize("workflow", ["monitor.yml", "retrain.yml"])
def test_every_step_given_store_credentials_runs_its_command_through_the_script(
    default_baked: Path, workflow: str
) -> None:
    jobs = yaml.safe_load((default_baked / ".github" / "workflows" / workflow).read_text(encoding="utf-8"))["jobs"]
    steps = [step for job in jobs.values() for step in job["steps"] if "AWS_ROLE_ARN" in step.get("env", {})]
    assert steps, f"{workflow} has no step reading the prediction log's store"
    for step in steps:
        assert f"{SCRIPT} {workflow.removesuffix('.yml')} \\\n" in step["run"], step["name"]
        assert set(step["env"]) >= STORE_VARIABLES
