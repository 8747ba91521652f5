"""The option matrix every bake test runs over, and the --fast flag that trims it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
CHOICES = {
    name: values
    for name, values in json.loads((TEMPLATE / "cookiecutter.json").read_text()).items()
    if isinstance(values, list) and not name.startswith("_")  # _copy_without_render is not a question
}
# Names that break naive templating: quotes, apostrophes, backslashes, non-ASCII.
AWKWARD_PEOPLE = [
    {},
    {"project_name": 'Ana\'s "Churn" Model', "author_name": 'O\'Brien "Ana" Smith', "author_email": "ana@corp.io"},
    {"project_name": "Back\\slash Detector", "author_name": "Zoë Back\\slash", "description": 'Says "hi" \\ bye'},
    {"project_name": "Fraud Scoring", "author_name": "Jörg Müller", "github_owner": "acme-ml"},
]


def option_matrix() -> list[dict[str, Any]]:
    """Every value of every choice appears at least once, in a linear number of bakes.

    Each choice cycles through its values independently (the full product would be 108
    bakes of the same files); the people and names cycle alongside, and init_git alternates.
    """
    rows = max(len(AWKWARD_PEOPLE), *(len(values) for values in CHOICES.values()))
    columns = {name: list(islice(cycle(values), rows)) for name, values in CHOICES.items()}
    columns["init_git"] = list(islice(cycle([True, False]), rows))
    return [
        {**{name: column[i] for name, column in columns.items()}, **AWKWARD_PEOPLE[i % len(AWKWARD_PEOPLE)]}
        for i in range(rows)
    ]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fast", action="store_true", help="one bake of the matrix, and skip the slow end-to-end tests")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "config" in metafunc.fixturenames:
        matrix = option_matrix()[:1] if metafunc.config.getoption("--fast") else option_matrix()
        ids = [
            f"{c['task']}-{c['license']}-{c['deploy_target']}-{c['experiment_tracking']}-{c['data_versioning']}"
            f"-py{c['python_version']}-git{int(c['init_git'])}"
            for c in matrix
        ]
        metafunc.parametrize("config", matrix, ids=ids)


# The order the two workers (a test file at a time each, `--dist=loadfile`) take the files in. Each
# starts with two: the first and third go to one worker, the second and fourth to the other, and
# every later file to whichever frees first. The longest (own data) is paired with a short one, the
# next two longest (e2e, options) go to the other worker; last in collection order, they would end
# the run alone.
SCHEDULE = ("test_own_data", "test_e2e", "test_cruft", "test_hooks", "test_options", "test_bake")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(SCHEDULE)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: each file keeps its order
    if config.getoption("--fast"):
        skip = pytest.mark.skip(reason="--fast skips the slow end-to-end tests")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bakes commit with a known identity, whatever the machine's git config holds (or lacks)."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Template Tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "template-tests@example.com")


@pytest.fixture
def baked(cookies: Any, config: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """One project of the matrix, baked by pytest-cookies; its root and the context it was rendered with."""
    result = cookies.bake(extra_context=config)
    assert result.exit_code == 0, result.exception
    assert result.exception is None
    return Path(result.project_path), result.context


# Text answers in scripts, emoji (astral, ZWJ sequence, flag), combining marks and right-to-left text:
# the answers that broke pyproject.toml (surrogate escapes) and `mkdocs build` before.
UNICODE_ANSWERS = {
    "project_name": "Fraud 🚀 Scoring — Ñandú 漢字",
    "author_name": "Zoë 👩‍💻 O'Brien-Łukasz 🇺🇦",
    "description": 'Détecte la fraude 🚀 — 检测欺诈 — كشف الاحتيال — e\u0301 "quoted" \\ backslash',
    "author_email": "o'brien+ml@example.co.uk",
}


@pytest.fixture(scope="session")
def unicode_baked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project baked with UNICODE_ANSWERS, shared by the tests that read its files (and install it)."""
    output = tmp_path_factory.mktemp("unicode")
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=UNICODE_ANSWERS, output_dir=str(output)))


@pytest.fixture(scope="session")
def default_baked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, baked once for the tests that only read its tree."""
    output = tmp_path_factory.mktemp("default")
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context={"init_git": False}, output_dir=str(output)))


@pytest.fixture(scope="session")
def unicode_installed(unicode_baked: Path) -> Path:
    """The UNICODE_ANSWERS project with its .venv (`make install`, from uv's cache when it is warm)."""
    env = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}}
    uv = shutil.which("uv")
    assert uv, "uv must be installed (it is a dev dependency of the template)"
    done = subprocess.run(
        ["make", f"UV={uv}", "install"], cwd=unicode_baked, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return unicode_baked
