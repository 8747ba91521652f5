"""What the generated docs name exists in that bake: every `make` target and every workflow file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)  # fenced blocks and inline code spans
TARGET_DEFINITION = re.compile(r"^([a-z][a-z0-9-]*):", re.MULTILINE)
YML_FILE = re.compile(r"\b([a-z][a-z0-9-]*\.yml)\b")


def documents(root: Path) -> dict[Path, str]:
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    return {page: page.read_text(encoding="utf-8") for page in pages}


def named_targets(text: str) -> set[str]:
    """Targets after `make` in code: `make data train docs MODEL=x  # ...` names data, train, docs."""
    targets: set[str] = set()
    for code in CODE.findall(text):
        for line in code.strip("`").splitlines():
            words = line.split()
            for start in (i for i, word in enumerate(words) if word == "make"):
                for word in words[start + 1 :]:
                    if word.startswith("-") or re.fullmatch(r"[A-Z][A-Z0-9_]*=\S*", word):
                        continue
                    if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                        break
                    targets.add(word)
    return targets


def test_every_make_target_the_docs_name_exists(baked: tuple[Path, dict[str, Any]]) -> None:
    root, _ = baked
    defined = set(TARGET_DEFINITION.findall((root / "Makefile").read_text(encoding="utf-8")))
    missing = {
        str(page.relative_to(root)): sorted(named_targets(text) - defined)
        for page, text in documents(root).items()
        if named_targets(text) - defined
    }
    assert missing == {}


def test_every_workflow_the_docs_name_exists(baked: tuple[Path, dict[str, Any]]) -> None:
    root, _ = baked
    present = {path.name for path in root.rglob("*.yml")}
    missing = {
        str(page.relative_to(root)): sorted(set(YML_FILE.findall(text)) - present)
        for page, text in documents(root).items()
        if set(YML_FILE.findall(text)) - present
    }
    assert missing == {}


def test_the_docs_nav_lists_every_page_and_only_those(baked: tuple[Path, dict[str, Any]]) -> None:
    root, _ = baked
    config = yaml.load((root / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    in_nav = {next(iter(entry.values())) for entry in config["nav"]}
    on_disk = {str(page.relative_to(root / "docs")) for page in (root / "docs").glob("*.md")}
    assert in_nav == on_disk | {"model-card.md"}  # the card is written by `make docs`


def test_named_targets_reads_code_only() -> None:
    text = "Make sure to `make data train MODEL=x docs  # then` and\n```bash\nuv run make -s lint\n```"
    assert named_targets(text) == {"data", "train", "docs", "lint"}
