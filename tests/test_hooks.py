"""The hooks: bad answers are refused in one line and leave no folder; git trouble never fails a bake."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter
from cookiecutter.utils import create_env_with_context

from .conftest import CHOICES, TEMPLATE
from .test_cruft import committed_copy

COOKIECUTTER = str(Path(sys.executable).with_name("cookiecutter"))


def code_answer(marker: Path) -> str:
    """An answer that creates ``marker`` if cookiecutter runs it as code."""
    payload = "{{ self.__init__.__globals__.__builtins__.__import__('os').system('touch MARKER') }}"
    return payload.replace("MARKER", str(marker))


def refusals(answers: dict[str, str], output: Path, capfd: pytest.CaptureFixture[str]) -> list[str]:
    """The `error:` lines of a refused bake: the hooks print them, safe_answers raises its one."""
    with pytest.raises(FailedHookException) as refused:
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output))
    printed = capfd.readouterr().err.splitlines() + str(refused.value).splitlines()
    return [line for line in printed if line.startswith("error: ")]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            {"project": "My Project", "package": "churn_model"},
            "project='My Project' is not a valid name: use lower-case letters",
        ),
        ({"project": "-churn", "package": "churn_model"}, "project='-churn' is not a valid name"),
        ({"project": "churn--model", "package": "churn_model"}, "project='churn--model' is not a valid name"),
        ({"project": "churn/model", "package": "churn_model"}, "project='churn/model' is not a valid name"),
        ({"project_name": "a" * 300}, "is 300 characters, longer than 63: it names Kubernetes objects and labels"),
        ({"package": "1churn"}, "package='1churn' is not a lower-case Python identifier"),
        ({"package": "churn-model"}, "package='churn-model' is not a lower-case Python identifier"),
        ({"package": "class"}, "package='class' is a Python keyword"),
        ({"package": "test"}, "package='test' would shadow the standard-library module 'test'"),
        ({"package": "json"}, "package='json' would shadow the standard-library module 'json'"),
        ({"package": "a" * 41}, f"package='{'a' * 41}' is longer than 40 characters"),
        ({"author_email": "ana.example.com"}, "author_email='ana.example.com' is not an address packaging tools"),
        ({"author_email": "x<y>,z;@ex.com"}, "author_email='x<y>,z;@ex.com' is not an address packaging tools"),
        ({"author_email": "ana@localhost"}, "author_email='ana@localhost' is not an address packaging tools"),
        ({"author_email": "ana smith@example.com"}, "is not an address packaging tools accept"),
        ({"github_owner": "-acme"}, "github_owner='-acme' is not a GitHub user or organisation name"),
        ({"github_owner": "acme--ml"}, "github_owner='acme--ml' is not a GitHub user"),
        ({"github_owner": "a" * 40}, "is not a GitHub user or organisation name"),
        ({"description": "two\nlines"}, "description='two\\nlines' holds the character U+000A: use one line"),
        ({"author_name": "Ana\u2028Smith"}, "author_name='Ana\\u2028Smith' holds the character U+2028"),
        ({"project_name": "Churn\x00"}, "holds the character U+0000"),
        ({"author_name": "Ana \udcff"}, "is not valid UTF-8 text (it holds a lone surrogate"),
        ({"description": "{{ 7 * 7 }}"}, "the answer '{{ 7 * 7 }}' holds Jinja code (a mul)"),
        ({"author_name": "{{ cycler }}"}, "holds Jinja code (the name 'cycler')"),
        ({"author_name": "{{ cookiecutter.__class__ }}"}, "holds Jinja code (the attribute '__class__')"),
        ({"author_name": "{{ cookiecutter._template }}"}, "holds Jinja code (the attribute '_template')"),
        ({"author_name": "{{ cookiecutter.project | attr('x') }}"}, "holds Jinja code (the filter 'attr')"),
        ({"description": "{% for x in range(9) %}{% endfor %}"}, "holds Jinja code (a for)"),
        ({"description": "a {{ b"}, "holds Jinja code (malformed Jinja: unexpected end of template"),
        (
            {"description": "{% raw %}{{ b }}{% endraw %}"},
            "description='{{ b }}' holds the Jinja markup '{{', which would run when the project is updated",
        ),
    ],
)
def test_a_bad_answer_is_refused_in_one_line_and_leaves_no_folder(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], answers: dict[str, str], message: str
) -> None:
    errors = refusals(answers, tmp_path, capfd)
    assert len(errors) == 1
    assert message in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_every_bad_answer_is_reported_at_once(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    answers = {"author_name": "A\tB", "package": "class", "author_email": "nobody", "github_owner": "-x"}
    errors = refusals(answers, tmp_path, capfd)
    assert [line.split("=")[0] for line in errors] == [
        "error: author_name", "error: package", "error: author_email", "error: github_owner"
    ]  # fmt: skip


def test_an_answer_holding_code_is_refused_and_never_runs(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The audit's payload: before safe_answers, cookiecutter ran it while rendering project_name."""
    marker = tmp_path / "ran"
    output = tmp_path / "out"
    for field in ("project_name", "project", "description", "author_email"):
        errors = refusals({field: code_answer(marker)}, output, capfd)
        assert len(errors) == 1
        assert "holds Jinja code (a call), which cookiecutter would run" in errors[0]
    assert not marker.exists()
    assert not output.exists()


def test_plain_cookiecutter_still_runs_code_from_an_answer(tmp_path: Path) -> None:
    """Upstream check: when this fails, cookiecutter stopped rendering answers and safe_answers may go."""
    template = tmp_path / "template"
    (template / "{{cookiecutter.name}}").mkdir(parents=True)
    (template / "cookiecutter.json").write_text(json.dumps({"name": "x"}))
    marker = tmp_path / "ran"
    cookiecutter(str(template), no_input=True, extra_context={"name": code_answer(marker)}, output_dir=str(tmp_path))
    assert marker.exists()


def test_plain_cookiecutter_still_makes_the_folder_before_the_pre_generation_hook(tmp_path: Path) -> None:
    """Upstream check: the hook cannot refuse a folder name the system refuses, so safe_answers checks it."""
    template = tmp_path / "template"
    (template / "{{cookiecutter.name}}").mkdir(parents=True)
    (template / "hooks").mkdir()
    (template / "hooks" / "pre_gen_project.py").write_text("import sys\nsys.exit(1)\n")
    (template / "cookiecutter.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(OSError, match="File name too long"):  # the hook never runs
        cookiecutter(str(template), no_input=True, extra_context={"name": "a" * 300}, output_dir=str(tmp_path))


def test_jinja_tojson_still_writes_surrogate_escapes_that_toml_rejects() -> None:
    """Upstream check: safe_answers makes tojson write emoji as they are; here is why."""
    escaped = jinja2.Environment().from_string("{{ text | tojson }}").render(text="🚀")
    assert escaped == '"\\ud83d\\ude80"'
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(f"name = {escaped}")


def test_the_template_s_own_jinja_renders_under_safe_answers() -> None:
    """Every string of cookiecutter.json, the hooks and the folder names pass, with the filters they use."""
    context = {"cookiecutter": json.loads((TEMPLATE / "cookiecutter.json").read_text())}
    env = create_env_with_context(context)
    sources = [value for value in context["cookiecutter"].values() if isinstance(value, str)]
    sources += [path.read_text(encoding="utf-8") for path in (TEMPLATE / "hooks").glob("*_project.py")]
    project = TEMPLATE / "{{cookiecutter.project}}"
    sources += [project.name, *(path.name for path in project.rglob("*{{*"))]
    for source in sources:
        env.from_string(source)  # compiles: safe_answers refuses nothing of the template's own
    answers = {"task": "regression", "project_name": "Ana's Model 🚀", "project": "ana-s-model-", "github_owner": "A"}
    rendered = env.from_string(
        "{{ cookiecutter.project_name | slugify }} {{ cookiecutter.project | replace('-', '_') | upper }} "
        "{{ cookiecutter.github_owner | lower }} {{ cookiecutter.project_name | tojson }} "
        "{{ 'R' if cookiecutter.task == 'regression' else 'C' }}"
    ).render(cookiecutter=answers)
    assert rendered == 'ana-s-model ANA_S_MODEL_ a "Ana\\u0027s Model 🚀" R'


@pytest.mark.parametrize("source", ["zip", "git"])
def test_safe_answers_loads_from_a_zip_or_a_git_url(tmp_path: Path, source: str, committed_template: Path) -> None:
    """Cookiecutter's CLI, in its own process, copies the template elsewhere and still imports hooks.safe_answers."""
    config = tmp_path / "config.yaml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'cache'}\nreplay_dir: {tmp_path / 'replay'}\n")
    if source == "zip":
        location = shutil.make_archive(str(tmp_path / "template"), "zip", committed_template.parent, "template")
    else:
        location = f"git+file://{committed_template}"
    marker = tmp_path / "ran"
    done = subprocess.run(
        [COOKIECUTTER, "--no-input", "--config-file", str(config), "-o", str(tmp_path / "out"), location,
         f"author_name={code_answer(marker)}"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert [line for line in lines if line.startswith("error: ")] == lines  # one line, no traceback
    assert len(lines) == 1
    assert "holds Jinja code (a call)" in lines[0]
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def committed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template's files, committed to a fresh repository (as cruft and git URLs see them)."""
    return committed_copy(tmp_path_factory.mktemp("repo") / "template")


def post_gen_hook(root: Path) -> ModuleType:
    """The post-generation hook as rendered for the project at ``root``, imported (its main() not run)."""
    context = {"cookiecutter": {"project": root.name, "package": root.name.replace("-", "_"), "task": "classification",
                                "license": "MIT", "deploy_target": "kubernetes", "experiment_tracking": "none",
                                "data_versioning": "none", "init_git": False}}  # fmt: skip
    env = create_env_with_context(context)
    script = root.parent / "post_gen_project.py"
    script.write_text(env.from_string((TEMPLATE / "hooks" / "post_gen_project.py").read_text()).render(**context))
    spec = importlib.util.spec_from_file_location("rendered_post_gen_project", script)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("package", "clash"),
    [
        ("threadpoolctl", "the module 'threadpoolctl' of the requirement 'threadpoolctl>=3.5' in pyproject.toml"),
        ("prometheus_client", "the module 'prometheus_client' of the requirement 'prometheus-client"),
        ("bentoml", "the module 'bentoml' of the requirement 'bentoml"),
        ("mkdocs", "the module 'mkdocs' of the requirement 'mkdocs"),  # dev group
        ("evidently", "the module 'evidently' of the requirement 'evidently"),  # monitoring group
        ("hatchling", "the module 'hatchling' of the requirement 'hatchling"),  # build system
        ("hypothesis", "the module 'hypothesis' that the project's dependencies install"),  # via schemathesis
        ("sklearn", "the module 'sklearn' that the project's dependencies install"),  # scikit-learn
        ("yaml", "the module 'yaml' that the project's dependencies install"),  # pyyaml
        ("benchmarks", "the project's own folder 'benchmarks'"),
        ("tests", "the project's own folder 'tests'"),
        ("src", "the project's own folder 'src'"),
        ("conftest", "the project's own module 'tests/conftest.py'"),
        ("churn_model", None),
    ],
)
def test_a_package_that_would_shadow_a_dependency_or_a_project_module_is_found(
    default_baked: Path, package: str, clash: str | None
) -> None:
    found = post_gen_hook(default_baked).shadowed(default_baked, package)
    assert found == clash if clash is None else found.startswith(clash)


@pytest.mark.slow
def test_every_module_the_installed_project_can_import_is_refused_as_its_package(unicode_installed: Path) -> None:
    """INSTALLED_MODULES is recorded: this fails, listing what to add, when the dependencies bring a new module."""
    listing = subprocess.run(
        [str(unicode_installed / ".venv" / "bin" / "python"), "-c",
         "import importlib.metadata, json; print(json.dumps(list(importlib.metadata.packages_distributions())))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    modules = {name for name in json.loads(listing.stdout) if name.isidentifier() and not name.startswith("_")}
    hook = post_gen_hook(unicode_installed)
    missing = sorted(name for name in modules - sys.stdlib_module_names if not hook.shadowed(unicode_installed, name))
    assert missing == [], f"add to INSTALLED_MODULES in hooks/post_gen_project.py: {' '.join(missing)}"


def test_a_shadowing_package_is_refused_in_one_line_and_leaves_no_folder(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    errors = refusals({"package": "threadpoolctl"}, tmp_path, capfd)
    assert errors == [
        "error: package='threadpoolctl' would shadow the module 'threadpoolctl' of the requirement "
        "'threadpoolctl>=3.5' in pyproject.toml: choose another import name, e.g. 'threadpoolctl_model'"
    ]
    assert list(tmp_path.iterdir()) == []


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
