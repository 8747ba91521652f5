"""Refuse bad answers before anything is written: one line naming the field, the value and what is valid.

Cookiecutter deletes the half-made output folder when this hook exits non-zero. The project
folder's name (`project`) and Jinja code in answers are refused earlier, by hooks/safe_answers.py;
a package that would shadow a dependency or a folder of the project, by the post-generation hook
(it reads the generated pyproject.toml). Runs offline, with the standard library only.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import unicodedata

CONTEXT = json.loads(
    r"""{{ {
        "project_name": cookiecutter.project_name,
        "package": cookiecutter.package,
        "description": cookiecutter.description,
        "author_name": cookiecutter.author_name,
        "author_email": cookiecutter.author_email,
        "github_owner": cookiecutter.github_owner,
    } | tojson }}"""
)

# Free text that lands in pyproject.toml, mkdocs.yml, the README and the package metadata.
TEXT_ANSWERS = ("project_name", "description", "author_name")
# Rendered answers holding Jinja markup would run when cruft updates the project (spelled in two
# parts: this file is rendered by Jinja too).
JINJA_MARKUP = ("{" + "{", "{" + "%", "{" + "#")
# Longer names push generated lines past the 120-column limit the project's linter enforces.
MAX_PACKAGE = 40
# `test` (the standard library's own tests) is left out of sys.stdlib_module_names, yet shadows a package.
STANDARD_MODULES = sys.stdlib_module_names | {"test"}
# An e-mail address as core metadata (Author-email) and PEP 621 `authors` carry it: an RFC 5322
# dot-atom local part (ASCII, no quoting, no braces) @ a host name of at least two labels.
EMAIL = re.compile(
    r"^(?=.{1,254}$)(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`|~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`|~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$")


def unprintable(text: str) -> str | None:
    """The first character that breaks one line of TOML or YAML text (a control, line separator or non-character)."""
    for character in text:
        code = ord(character)
        if (
            unicodedata.category(character) in {"Cc", "Cs", "Zl", "Zp"}
            or 0xFDD0 <= code <= 0xFDEF
            or code & 0xFFFE == 0xFFFE
        ):
            return f"U+{code:04X}"
    return None


def problems(context: dict[str, str]) -> list[str]:
    """Every refused answer, each as one line."""
    found = []
    for field in TEXT_ANSWERS:
        text = context[field]
        if character := unprintable(text):
            found.append(f"{field}={text!r} holds the character {character}: use one line of printable text")
        elif markup := next((mark for mark in JINJA_MARKUP if mark in text), None):
            found.append(
                f"{field}={text!r} holds the Jinja markup {markup!r}, which would run when the project is updated "
                "from the template: remove it"
            )
    package = context["package"]
    if len(package) > MAX_PACKAGE:
        found.append(f"package={package!r} is longer than {MAX_PACKAGE} characters: choose a shorter import name")
    elif not package.isidentifier() or not package.isascii() or package != package.lower():
        found.append(
            f"package={package!r} is not a lower-case Python identifier: use letters, digits and _, e.g. 'churn_model'"
        )
    elif keyword.iskeyword(package) or keyword.issoftkeyword(package):
        found.append(f"package={package!r} is a Python keyword: choose another import name, e.g. '{package}_model'")
    elif package in STANDARD_MODULES:
        found.append(
            f"package={package!r} would shadow the standard-library module {package!r}: "
            f"choose another import name, e.g. '{package}_model'"
        )
    if not EMAIL.match(context["author_email"]):
        found.append(
            f"author_email={context['author_email']!r} is not an address packaging tools accept: use "
            "name@domain.tld, with letters, digits and .!#$%&'*+/=?^_`|~- before the @, e.g. 'you@example.com'"
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
