"""Cookiecutter extension: answers are data, never Jinja code; the project folder is checked before it is made.

An upstream workaround (cookiecutter 2.7, listed in cookiecutter.json's ``_extensions``):

- cookiecutter renders every answer given on the command line, in a user config, a replay file, by
  cruft or by a generation service (e.g. Backstage) as a plain Jinja template before any hook runs,
  so ``project_name={{ self.__init__.__globals__... }}`` runs Python during the bake. Here every
  template rendered from a string (answers, the defaults in cookiecutter.json, path names, hook
  scripts) may only use the Jinja the template's own strings use: ``cookiecutter.<answer>``,
  constants, ``if``/``else``, comparisons and a few filters. Anything else (a call, another name, a
  private attribute, a statement) is refused in one line before it compiles. A sandbox
  (``jinja2.sandbox``) would still evaluate ``{{ 7 * 7 }}`` and fail with a traceback; the files
  of the project (rendered by name, not from strings) are the template's own and stay unchecked.
- cookiecutter creates the project folder before the pre-generation hook runs, so a folder name
  the hook would refuse (a 300-character name, ``a/b``) ends in an ``OSError`` traceback or leaves
  folders behind: the folder's name is checked as it is rendered.
- Jinja's ``tojson`` escapes emoji as UTF-16 surrogate pairs (``"\\ud83d\\ude80"``), which TOML
  rejects and YAML decodes into unencodable text: ``tojson`` here writes non-ASCII characters as
  they are.

Cookiecutter puts the template's folder on ``sys.path`` while it renders (for a local folder, a
git URL or a zip alike; cruft does the same), so this module is importable as ``hooks.safe_answers``.
"""

from __future__ import annotations

import re

from cookiecutter.exceptions import FailedHookException
from jinja2 import Environment, TemplateSyntaxError, nodes
from jinja2.ext import Extension

# The name of the template's project folder: cookiecutter renders it before any hook runs.
PROJECT_FOLDER = "{{cookiecutter.project}}"
PROJECT = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
# The project names Kubernetes objects and their `app.kubernetes.io/name` label, at most 63 characters.
MAX_PROJECT = 63
# The filters the template's own strings use (cookiecutter.json defaults and the hooks).
FILTERS = frozenset({"lower", "replace", "slugify", "tojson", "upper"})
PLAIN_NODES = (
    nodes.Output, nodes.TemplateData, nodes.Const, nodes.CondExpr, nodes.Compare, nodes.Operand,
    nodes.Dict, nodes.Pair, nodes.List, nodes.Tuple, nodes.And, nodes.Or, nodes.Not, nodes.Concat,
)  # fmt: skip
# Parses without this extension (parsing with the cookiecutter environment would call preprocess again).
PARSER = Environment()


class RefusedAnswer(FailedHookException):
    """An answer cookiecutter must not use: its message is the one `error:` line cookiecutter's CLI prints."""


def shown(value: str) -> str:
    """The value as the error line quotes it: long values are cut."""
    return repr(value if len(value) <= 60 else value[:59] + "…")


def unsafe_construct(source: str) -> str | None:
    """What in ``source`` is outside the template's own Jinja, or None when it only uses that."""
    try:
        tree = PARSER.parse(source)
    except TemplateSyntaxError as error:
        return f"malformed Jinja: {error.message}"
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Name):
            if node.name != "cookiecutter":
                return f"the name {node.name!r}"
        elif isinstance(node, nodes.Getattr):
            if not isinstance(node.node, nodes.Name) or node.attr.startswith("_"):
                return f"the attribute {node.attr!r}"
        elif isinstance(node, nodes.Filter):
            if node.name not in FILTERS or node.kwargs or node.dyn_args or node.dyn_kwargs:
                return f"the filter {node.name!r}"
        elif type(node) not in PLAIN_NODES:
            return f"a {type(node).__name__.lower()}"
    return None


def checked_project(project: str) -> str:
    """The project folder's name, or a refusal: cookiecutter makes that folder before the hooks run."""
    if len(project) > MAX_PROJECT:
        raise RefusedAnswer(
            f"error: project={shown(project)} is {len(project)} characters, longer than {MAX_PROJECT}: it names "
            f"Kubernetes objects and labels (at most {MAX_PROJECT}); choose a shorter project_name or answer project"
        )
    if not PROJECT.match(project):
        raise RefusedAnswer(
            f"error: project={shown(project)} is not a valid name: use lower-case letters, digits and single "
            "hyphens, starting with a letter (it names the folder, the distribution and the container image), "
            "e.g. 'churn-model'"
        )
    return project


class SafeAnswers(Extension):
    """Refuse Jinja code in answers, check the project folder's name, keep ``tojson`` output valid TOML and YAML."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["checked_project"] = checked_project
        environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        """Check each template made from a string (``name`` is None) before Jinja compiles it."""
        if name is not None:
            return source
        if any("\ud800" <= character <= "\udfff" for character in source):
            raise RefusedAnswer(
                f"error: the answer {shown(source)} is not valid UTF-8 text (it holds a lone surrogate, "
                "often a byte the shell could not decode): type it again in UTF-8"
            )
        if construct := unsafe_construct(source):
            raise RefusedAnswer(
                f"error: the answer {shown(source)} holds Jinja code ({construct}), which cookiecutter would "
                "run while rendering it: remove '{{', '{%' and '{#' from it"
            )
        if source == PROJECT_FOLDER:
            return "{{ cookiecutter.project | checked_project }}"
        return source
