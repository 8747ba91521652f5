"""The upstream behaviour each patch works around: these fail once BentoML changes it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _bentoml_sdk.io_models import ensure_io_descriptor
from pydantic import ValidationError

from {{ cookiecutter.package }} import upstream_patches


def count_schema_builds(root_type: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = root_type.model_json_schema

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(root_type, "model_json_schema", counted)
    return calls


@pytest.fixture
def root_type() -> Any:
    return ensure_io_descriptor(list[int])


def test_upstream_lets_malformed_json_escape_as_a_json_error(root_type: Any) -> None:
    with pytest.raises(json.JSONDecodeError):  # if this fails, BentoML fixed it: drop the patch
        upstream_patches.UPSTREAM_MODEL_VALIDATE_JSON.__func__(root_type, b"[1, oops")


def test_upstream_rebuilds_the_json_schema_on_every_request(root_type: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_schema_builds(root_type, monkeypatch)
    for _ in range(3):
        upstream_patches.UPSTREAM_MODEL_VALIDATE_JSON.__func__(root_type, b"[1, 2]")
    assert len(calls) == 3  # if this fails, BentoML caches it now: drop the patch


def test_the_patch_turns_malformed_json_into_a_validation_error(root_type: Any) -> None:
    upstream_patches.apply()
    with pytest.raises(ValidationError) as caught:
        root_type.model_validate_json(b"[1, oops")
    assert caught.value.errors()[0]["type"] == "json_invalid"
    assert root_type.model_validate_json(b"[1, 2]").root == [1, 2]


def test_the_patch_builds_the_schema_once_per_type(root_type: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    upstream_patches.apply()
    fresh = ensure_io_descriptor(list[float])
    calls = count_schema_builds(fresh, monkeypatch)
    for _ in range(3):
        fresh.model_validate_json(b"[1.5]")
    assert len(calls) == 1
