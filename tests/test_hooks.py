"""The hooks: bad answers are refused in one line and leave no folder; git trouble never fails a bake."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from .conftest import CHOICES, TEMPLATE


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            {"project": "My Project", "package": "churn_model"},
            "project='My Project' is not a valid name: use lower-case letters",
        ),
        ({"project": "-churn", "package": "churn_model"}, "project='-churn' is not a valid name"),
        ({"project": "churn--model", "package": "churn_model"}, "project='churn--model' is not a valid name"),
        ({"package": "1churn"}, "package='1churn' is not a lower-case Python identifier"),
        ({"package": "churn-model"}, "package='churn-model' is not a lower-case Python identifier"),
        ({"package": "class"}, "package='class' is a Python keyword"),
        ({"package": "test"}, "package='test' would shadow the module 'test'"),
        ({"package": "bentoml"}, "package='bentoml' would shadow the module 'bentoml'"),
        ({"package": "pandas"}, "package='pandas' would shadow the module 'pandas'"),
        ({"package": "a" * 41}, f"package='{'a' * 41}' is longer than 40 characters"),
        ({"author_email": "ana.example.com"}, "author_email='ana.example.com' is not an e-mail address"),
        ({"github_owner": "-acme"}, "github_owner='-acme' is not a GitHub user or organisation name"),
        ({"github_owner": "acme--ml"}, "github_owner='acme--ml' is not a GitHub user"),
        ({"github_owner": "a" * 40}, "is not a GitHub user or organisation name"),
    ],
)
def test_a_bad_answer_is_refused_in_one_line_and_leaves_no_folder(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], answers: dict[str, str], message: str
) -> None:
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path))
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert message in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_every_bad_answer_is_reported_at_once(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    answers = {"package": "pandas", "author_email": "nobody", "github_owner": "-x"}
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path))
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error: ")]
    assert [line.split("=")[0] for line in errors] == ["error: package", "error: author_email", "error: github_owner"]


def test_the_project_name_is_free_text_and_the_rest_derives_from_it(cookies: Any) -> None:
    result = cookies.bake(extra_context={"project_name": 'Ana\'s "Churn" Model 2'})
    assert result.exit_code == 0, result.exception
    assert (result.context["project"], result.context["package"]) == ("ana-s-churn-model-2", "ana_s_churn_model_2")


def test_the_post_generation_hook_knows_every_task() -> None:
    """Its TASKS lists the variant files it renames or deletes: a new task in cookiecutter.json needs its entry."""
    hook = (TEMPLATE / "hooks" / "post_gen_project.py").read_text(encoding="utf-8")
    listed = ", ".join(f'"{task}"' for task in CHOICES["task"])
    assert f"TASKS = ({listed})" in hook


def without_git_identity(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.useConfigOnly")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "true")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)


def test_without_a_git_identity_the_repo_is_made_but_not_committed(
    cookies: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    without_git_identity(monkeypatch, tmp_path)
    result = cookies.bake()
    assert result.exit_code == 0, result.exception
    assert "could not commit (set `git config --global user.name`" in capfd.readouterr().out
    root = Path(result.project_path)
    log = subprocess.run(["git", "log"], cwd=root, capture_output=True, text=True)
    assert log.returncode != 0  # a repository with no commit yet


def test_without_git_the_bake_still_succeeds(
    cookies: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # the hook runs with the same interpreter, found by full path
    result = cookies.bake()
    assert result.exit_code == 0, result.exception
    assert "git is not installed: skipped `git init`" in capfd.readouterr().out
    assert not (Path(result.project_path) / ".git").exists()
