"""Refuse bad answers before anything is written: one line naming the field, the value and what is valid.

Cookiecutter deletes the half-made output folder when this hook exits non-zero.
Runs offline, with the standard library only.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

CONTEXT = json.loads(
    r"""{{ {
        "project": cookiecutter.project,
        "package": cookiecutter.package,
        "author_email": cookiecutter.author_email,
        "github_owner": cookiecutter.github_owner,
    } | tojson }}"""
)

# Import names of the generated project's dependencies and tools, the test package
# (left out of sys.stdlib_module_names) and the project's own folders: a package with
# one of these names would shadow them.
DEPENDENCY_MODULES = frozenset(
    {
        "bentoml", "click", "evidently", "hatchling", "mypy", "numpy", "pandas", "pyarrow",
        "pydantic", "pytest", "ruff", "scipy", "sklearn", "starlette", "uv", "yaml",
        "test", "tests", "src", "config",
    }
)  # fmt: skip

# Longer names push generated lines past the 120-column limit the project's linter enforces.
MAX_PACKAGE = 40
PROJECT = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$")


def problems(context: dict[str, str]) -> list[str]:
    """Every refused answer, each as one line."""
    found = []
    project, package = context["project"], context["package"]
    if not PROJECT.match(project):
        found.append(
            f"project={project!r} is not a valid name: use lower-case letters, digits and single hyphens, "
            "starting with a letter (it names the folder, the distribution and the container image), e.g. 'churn-model'"
        )
    if len(package) > MAX_PACKAGE:
        found.append(f"package={package!r} is longer than {MAX_PACKAGE} characters: choose a shorter import name")
    elif not package.isidentifier() or not package.isascii() or package != package.lower():
        found.append(
            f"package={package!r} is not a lower-case Python identifier: use letters, digits and _, e.g. 'churn_model'"
        )
    elif keyword.iskeyword(package) or keyword.issoftkeyword(package):
        found.append(f"package={package!r} is a Python keyword: choose another import name, e.g. '{package}_model'")
    elif package in sys.stdlib_module_names or package in DEPENDENCY_MODULES:
        found.append(
            f"package={package!r} would shadow the module {package!r} that the project imports: "
            f"choose another import name, e.g. '{package}_model'"
        )
    if not EMAIL.match(context["author_email"]):
        found.append(
            f"author_email={context['author_email']!r} is not an e-mail address: "
            "use name@domain, e.g. 'you@example.com'"
        )
    if not GITHUB_OWNER.match(context["github_owner"]):
        found.append(
            f"github_owner={context['github_owner']!r} is not a GitHub user or organisation name: "
            "use 1-39 letters, digits and single hyphens, not starting or ending with a hyphen"
        )
    return found


def main() -> int:
    """Print each problem on its own line to stderr and fail if there is any."""
    found = problems(CONTEXT)
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
