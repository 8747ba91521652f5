"""Workarounds for BentoML 1.4 behaviour in the request path, applied when the service is imported.

``IORootModel.model_validate_json`` parses root-typed inputs (``predict_batch``'s list) and
1. lets ``json.JSONDecodeError`` escape on a malformed body, which BentoML answers with a 500
   (its handler only turns pydantic's ValidationError into a 400);
2. rebuilds the type's JSON schema on every request, only to learn whether the root is a
   string or a file: most of a batch request's CPU.
The replacement decides that once per type and parses with pydantic's JSON parser, whose errors
become a 400 naming ``json_invalid``. tests/test_upstream_patches.py fails once upstream changes
either behaviour, so the patch can be dropped.
"""

from __future__ import annotations

import functools
from typing import Any

import pydantic_core
from _bentoml_sdk.io_models import IORootModel
from pydantic import ValidationError
from pydantic_core import InitErrorDetails

UPSTREAM_MODEL_VALIDATE_JSON = IORootModel.__dict__["model_validate_json"]


@functools.cache
def _raw_root(cls: Any) -> bool:
    """Whether BentoML passes the body through unparsed (a string or file root)."""
    return cls.model_json_schema().get("type") in ("string", "file")


def _model_validate_json(cls: Any, json_data: str | bytes | bytearray, /, **kwargs: Any) -> Any:
    if _raw_root(cls):
        return cls.model_validate(json_data, **kwargs)
    try:
        parsed = pydantic_core.from_json(json_data)
    except ValueError as exc:
        error = InitErrorDetails(type="json_invalid", loc=(), input=json_data, ctx=dict(error=str(exc)))
        raise ValidationError.from_exception_data(cls.__name__, [error]) from None
    return cls.model_validate(parsed, **kwargs)


def apply() -> None:
    """Install the replacement (idempotent)."""
    IORootModel.model_validate_json = classmethod(_model_validate_json)
