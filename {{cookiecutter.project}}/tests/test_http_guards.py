from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package }}.http_guards import load_api_key


def test_the_key_comes_from_api_key_first(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-file\n")
    assert load_api_key({"API_KEY": " k1 ", "API_KEY_FILE": str(tmp_path / "key")}) == "k1"


def test_the_key_can_come_from_a_mounted_secret_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-file\n")
    assert load_api_key({"API_KEY_FILE": str(tmp_path / "key")}) == "from-file"


def test_no_key_means_authentication_is_off() -> None:
    assert load_api_key({}) is None


@pytest.mark.parametrize(("content", "message"), [(None, "cannot read the API key"), ("  \n", "the file is empty")])
def test_a_bad_key_file_stops_start_up(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "key"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit, match=message):
        load_api_key({"API_KEY_FILE": str(path)})
