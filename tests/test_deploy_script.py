"""deploy/kubernetes/deploy.sh against stand-ins for kubectl and curl: the order of the calls, and the undo."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

FAKE_KUBECTL = """#!/usr/bin/env bash
echo "kubectl $*" >> "$CALLS"
case "$*" in
  *port-forward*) exec sleep 30 ;;  # killed by the script's EXIT trap
  *"--filename -"*) cat > /dev/null ;;
  *"--output yaml"*) echo "kind: Fake" ;;
  *"rollout status"*) exit "${ROLLOUT_STATUS:-0}" ;;
esac
"""
FAKE_CURL = """#!/usr/bin/env bash
echo "curl $*" >> "$CALLS"
case "$*" in *model_info*) exit "${SMOKE_STATUS:-0}" ;; esac
"""


@pytest.fixture
def kubernetes_project(cookies: Any) -> Path:
    result = cookies.bake(extra_context={"deploy_target": "kubernetes", "init_git": False})
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


def run_deploy(project: Path, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("kubectl", FAKE_KUBECTL), ("curl", FAKE_CURL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    calls = tmp_path / "calls.log"
    environment = os.environ | {"PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls), "API_KEY": "k"} | env
    done = subprocess.run(
        [str(project / "deploy" / "kubernetes" / "deploy.sh"), "ghcr.io/acme/app@sha256:abc"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_the_script_passes_shellcheck(kubernetes_project: Path) -> None:
    script = kubernetes_project / "deploy" / "kubernetes" / "deploy.sh"
    assert os.access(script, os.X_OK)
    done = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_a_healthy_rollout_applies_waits_and_smokes(kubernetes_project: Path, tmp_path: Path) -> None:
    done, calls = run_deploy(kubernetes_project, tmp_path)
    assert done.returncode == 0, done.stderr
    name = kubernetes_project.name
    assert any(call.startswith(f"kubectl --namespace default create secret generic {name}-api-key") for call in calls)
    assert any("set image --local" in call and "api=ghcr.io/acme/app@sha256:abc" in call for call in calls)
    assert f"kubectl --namespace default rollout status deployment/{name} --timeout 10m" in calls
    assert any("model_info" in call and "X-API-Key: k" in call for call in calls)
    assert not any("rollout undo" in call for call in calls)


def test_a_new_api_key_changes_the_pod_template(kubernetes_project: Path, tmp_path: Path) -> None:
    """Rotation: the key's hash is a pod annotation, so a new key rolls the pods (which read it at start)."""
    name = kubernetes_project.name

    def annotation(key: str) -> str:
        _, calls = run_deploy(kubernetes_project, Path(tempfile.mkdtemp(dir=tmp_path)), API_KEY=key)
        [patch] = [call for call in calls if "patch --local" in call]
        return patch.split(f'"{name}/api-key-sha256": "')[1].split('"')[0]

    first, again, rotated = annotation("key-one"), annotation("key-one"), annotation("key-two")
    assert first == again == hashlib.sha256(b"key-one").hexdigest()[:16]
    assert rotated == hashlib.sha256(b"key-two").hexdigest()[:16]


@pytest.mark.parametrize(
    ("env", "reason"),
    [({"SMOKE_STATUS": "22"}, "the smoke request"), ({"ROLLOUT_STATUS": "1"}, "the rollout did not complete")],
    ids=["smoke-fails", "rollout-stalls"],
)
def test_a_failed_rollout_or_smoke_is_undone(
    kubernetes_project: Path, tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    done, calls = run_deploy(kubernetes_project, tmp_path, **env)
    assert done.returncode == 1
    assert reason in done.stderr
    assert f"kubectl --namespace default rollout undo deployment/{kubernetes_project.name}" in calls


def test_no_api_key_is_refused_before_touching_the_cluster(kubernetes_project: Path, tmp_path: Path) -> None:
    done, calls = run_deploy(kubernetes_project, tmp_path, API_KEY="")
    assert done.returncode != 0
    assert "API_KEY must be set" in done.stderr
    assert calls == []
