"""Workarounds for upstream behaviour in BentoML 1.4's request path and in skl2onnx's conversion.

The BentoML ones (1-5) are applied when the service is imported, the skl2onnx one (6) by
onnx_graph.py when it converts.

1. ``IORootModel.model_validate_json`` parses root-typed inputs (``predict_batch``'s list) and lets
   ``json.JSONDecodeError`` escape on a malformed body, which BentoML answers with a 500 (its
   handler only turns pydantic's ValidationError into a 400); it also rebuilds the type's JSON
   schema on every request, only to learn whether the root is a string or a file: most of a batch
   request's CPU. The replacement decides that once per type and parses with pydantic's JSON
   parser, whose errors become a 400 naming ``json_invalid``.
2. BentoML logs every 400 at ERROR with a traceback whose message holds pydantic's
   ``input_value`` (request data), and lists every problem in the answer: 1,000 empty records made
   a 3.9 MB answer and 90,000 log lines. Here a refused request logs one line, without values, and
   its answer lists at most ``MAX_LISTED_ERRORS`` problems with their total count.
3. BentoML's Swagger UI page loads Google Tag Manager, and leaves Swagger UI's online validator on
   (the schema's address sent to validator.swagger.io from any host but localhost); it is served
   here without either.
4. BentoML names the service in a ``Server`` header on every API answer
   (``BentoML Service/<name>``), telling a scanner what runs; the header is dropped.
5. A list answer (``predict_batch``'s) is serialized by ``IORootModel.model_dump_json`` as
   ``json.dumps(self.model_dump())``: the standard json module on Python dicts, and its media type
   is worked out by building the type's JSON schema on every answer. Here it is pydantic's
   serializer on the root, and the media type is worked out once per type.
6. skl2onnx 1.20 builds tree-ensemble nodes (HistGradientBoosting's) with list attributes holding
   Python bools, which onnx's ``make_attribute`` refuses ("Expected an int, got a boolean"), so the
   conversion fails; casting those items to int gives the graph upstream means (parity-checked at
   every conversion).

The OpenAPI schema is corrected in upstream_openapi.py. tests/test_upstream_patches.py fails once
upstream changes any of these behaviours, so the patch can be dropped.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any

import pydantic_core
from _bentoml_impl.server import app as bentoml_app  # type: ignore[import-untyped]
from _bentoml_sdk.io_models import IOMixin, IORootModel
from bentoml._internal.configuration.containers import BentoMLContainer
from pydantic import TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from . import upstream_openapi
from .upstream_openapi import MAX_LISTED_ERRORS

log = logging.getLogger(__name__)

UPSTREAM_MODEL_VALIDATE_JSON = IORootModel.__dict__["model_validate_json"]
UPSTREAM_MODEL_DUMP_JSON = IORootModel.__dict__["model_dump_json"]
UPSTREAM_MIME_TYPE = IOMixin.__dict__["mime_type"]
UPSTREAM_API_ENDPOINT = bentoml_app.ServiceAppFactory.__dict__["api_endpoint"]
UPSTREAM_INDEX_PAGE = bentoml_app.ServiceAppFactory.__dict__["index_page"]
UPSTREAM_ADD_RESPONSE_HEADERS = bentoml_app.ServiceAppFactory.__dict__["_add_response_headers"]
UI_FOLDER = Path(bentoml_app.__file__).parent
TAG_MANAGER = re.compile(
    r"<!-- Google Tag Manager(?: \(noscript\))? -->.*?<!-- End Google Tag Manager(?: \(noscript\))? -->", re.DOTALL
)
UPSTREAM_INITIALIZER = re.compile(r'<script src="\./static_content/swagger-initializer\.js"[^>]*>\s*</script>')
# BentoML's swagger-initializer.js, with validatorUrl off: at its default, on any host but localhost,
# Swagger UI sends the schema's address to validator.swagger.io and shows the badge it answers.
INITIALIZER = """<script>
window.onload = () => {
  window.ui = SwaggerUIBundle({
    url: "./docs.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
};
</script>"""


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


@functools.cache
def _root_adapter(cls: Any) -> TypeAdapter[Any]:
    root: Any = cls.model_fields["root"].annotation
    return TypeAdapter(root)


def _model_dump_json(self: Any, **kwargs: Any) -> str:
    if any(kwargs.values()):  # options BentoML's JSON answers never pass (it sends an empty ``exclude``)
        return str(UPSTREAM_MODEL_DUMP_JSON(self, **kwargs))
    cls: Any = self.__class__
    return _root_adapter(cls).dump_json(self.root).decode()


@functools.cache
def _cached_mime_type(cls: Any) -> str:
    return str(UPSTREAM_MIME_TYPE.__func__(cls))


def _mime_type(cls: Any) -> str:
    return _cached_mime_type(cls)


def validation_answer(exc: ValidationError) -> dict[str, Any]:
    """The 400 body: the first problems (field in ``loc``, rule in ``type``, ``msg``) and how many there are."""
    count = exc.error_count()
    listed = exc.errors(include_url=False, include_context=False, include_input=False)[:MAX_LISTED_ERRORS]
    summary = f"{count} validation error{'s' if count != 1 else ''} in the request body"
    if count > len(listed):
        summary += f"; the first {len(listed)} are listed"
    return {"error": summary, "detail": listed, "error_count": count}


async def _api_endpoint(self: Any, name: str, request: Request) -> Response:
    """BentoML's endpoint, answering a refused input itself: one log line, a bounded body."""
    try:
        response: Response = await UPSTREAM_API_ENDPOINT(self, name, request)
    except ValidationError as exc:
        log.info("400 on %s: %d validation errors", request.scope["path"], exc.error_count())
        return JSONResponse(validation_answer(exc), status_code=400)
    return response


@functools.cache
def swagger_page(filename: str) -> str:
    """BentoML's UI page without its Google Tag Manager script and iframe, nor Swagger UI's online validator."""
    page = TAG_MANAGER.sub("", (UI_FOLDER / filename).read_text(encoding="utf-8"))
    return UPSTREAM_INITIALIZER.sub(INITIALIZER, page)


async def _index_page(self: Any, _: Request) -> Response:
    return HTMLResponse(swagger_page("main-ui.html" if BentoMLContainer.new_index else "main-openapi.html"))


def _add_response_headers(self: Any, response: Response, *args: Any, **kwargs: Any) -> None:
    UPSTREAM_ADD_RESPONSE_HEADERS(self, response, *args, **kwargs)
    del response.headers["server"]


def apply() -> None:
    """Install the replacements (idempotent)."""
    IORootModel.model_validate_json = classmethod(_model_validate_json)
    IORootModel.model_dump_json = _model_dump_json
    IORootModel.mime_type = classmethod(_mime_type)
    bentoml_app.ServiceAppFactory.api_endpoint = _api_endpoint
    bentoml_app.ServiceAppFactory.index_page = _index_page
    bentoml_app.ServiceAppFactory._add_response_headers = _add_response_headers
    upstream_openapi.apply()


# -- 6. skl2onnx ----------------------------------------------------------------------------------


def _int_items(value: Any) -> Any:
    """A list attribute with its Python bools as ints."""
    if isinstance(value, list | tuple) and any(isinstance(item, bool) for item in value):
        return [int(item) if isinstance(item, bool) else item for item in value]
    return value


def apply_skl2onnx() -> None:
    """Install the cast into skl2onnx's node builder (idempotent; imports skl2onnx, so only at conversion)."""
    from skl2onnx.common._container import ModelComponentContainer

    upstream = ModelComponentContainer.add_node
    if hasattr(upstream, "__wrapped__"):
        return

    @functools.wraps(upstream)
    def add_node(self: Any, op_type: str, inputs: Any, outputs: Any, *args: Any, **attrs: Any) -> Any:
        return upstream(self, op_type, inputs, outputs, *args, **{key: _int_items(v) for key, v in attrs.items()})

    ModelComponentContainer.add_node = add_node
