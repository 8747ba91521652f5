"""The OpenAPI schema at /docs.json, corrected to describe what the service really answers.

BentoML 1.4 builds it from the API types alone: every endpoint lists 400, 404 and 500 with a
``detail`` string (the 400 body holds a list), the request body is optional, and nothing says a key
is needed or that 401, 413, 415 and 429 exist. Clients generated from it, and schemathesis, then
disagree with the service. The corrections follow the service's own ``HttpGuard`` options, so the
schema names the key only when one is set. Its introduction is BentoML's README, whose five badge
images the Swagger UI fetches from other hosts (shields.io, readthedocs.org, badgen.net) in every
reader's browser: the service's docstring replaces it. tests/test_upstream_patches.py fails once
BentoML's schema changes, so this can be revisited.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from _bentoml_impl.server import app as bentoml_app  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .http_guards import HttpGuard

MAX_LISTED_ERRORS = 50  # problems listed in a 400 answer; error_count has them all
UPSTREAM_OPENAPI_SPEC_VIEW = bentoml_app.ServiceAppFactory.__dict__["openapi_spec_view"]
UPSTREAM_ERROR_SCHEMAS = ("InvalidArgument", "NotFound", "InternalServerError")
SCHEMAS = "#/components/schemas/"
ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "required": ["error"],
    "properties": {"error": dict(type="string", description="What is wrong and how to fix it")},
}
PROBLEM_SCHEMA = {
    "type": "object",
    "title": "Problem",
    "required": ["type", "loc", "msg"],
    "properties": {
        "type": {"type": "string", "description": "The rule broken, e.g. missing, greater_than_equal, json_invalid"},
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": "Where: the field, after the record's index in a batch",
        },
        "msg": {"type": "string"},
    },
}
PROBLEM_REFERENCE = {"$ref": f"{SCHEMAS}Problem"}
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer"},
}


def validation_errors_schema() -> dict[str, Any]:
    """The 400 body of upstream_patches.validation_answer."""
    return {
        "type": "object",
        "title": "ValidationErrors",
        "required": ["error", "detail", "error_count"],
        "properties": {
            "error": {"type": "string"},
            "detail": {"type": "array", "maxItems": MAX_LISTED_ERRORS, "items": PROBLEM_REFERENCE},
            "error_count": {"type": "integer", "minimum": 1, "description": "All problems, listed or not"},
        },
    }


def _answer(description: str, schema: str) -> dict[str, Any]:
    reference = {"$ref": SCHEMAS + schema}
    return dict(description=description, content={"application/json": dict(schema=reference)})


def error_responses(guard: dict[str, Any]) -> dict[str, Any]:
    """What an API endpoint answers besides 200, given the guard's options."""
    responses = {
        "400": _answer(
            "The body is not valid JSON or breaks the data contract (each problem is named)", "ValidationErrors"
        ),
        "401": _answer("A key is needed: send `X-API-Key: <key>` or `Authorization: Bearer <key>`", "Error"),
        "413": _answer(f"The body is larger than {guard['max_body_bytes']} bytes", "Error"),
        "415": _answer("The body is not sent as `Content-Type: application/json`", "Error"),
        "429": _answer("Too many requests in flight: retry after a pause", "Error"),
        "504": _answer("The request took longer than the service's timeout: retry after a pause", "Error"),
    }
    if guard["api_key"] is None:
        del responses["401"]
    return responses


def corrected(spec: dict[str, Any], guard: dict[str, Any]) -> dict[str, Any]:
    """``spec`` (BentoML's, as a dict) with the service's real answers, body and security."""
    for path in guard["json_paths"]:
        operation = spec["paths"][path]["post"]
        operation["requestBody"]["required"] = True
        operation["responses"] = {"200": operation["responses"]["200"], **error_responses(guard)}
        if guard["api_key"] is not None:
            operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas |= {"Error": ERROR_SCHEMA, "Problem": PROBLEM_SCHEMA, "ValidationErrors": validation_errors_schema()}
    text = json.dumps(spec)
    for name in UPSTREAM_ERROR_SCHEMAS:  # referenced by BentoML's error answers only, now replaced
        if f'"{SCHEMAS}{name}"' not in text:
            schemas.pop(name, None)
    if guard["api_key"] is not None:
        components["securitySchemes"] = SECURITY_SCHEMES
    return spec


def guard_options(service: Any) -> dict[str, Any]:
    """The options the service's HttpGuard was added with."""
    for middleware, options in service.middlewares:
        if middleware is HttpGuard:
            return dict(options)
    raise LookupError(f"{service.name} has no HttpGuard middleware")


def own_info(upstream: dict[str, Any], doc: str | None) -> dict[str, Any]:
    """BentoML's ``info`` introduced by ``doc``, not by its README (badge images, its community) and contact.

    The title heads the description, as in the README: BentoML's stylesheet hides Swagger UI's own.
    """
    description = f"# {upstream['title']}\n\n{inspect.cleandoc(doc or '')}"
    return {"title": upstream["title"], "version": upstream["version"], "description": description}


def service_spec(service: Any) -> dict[str, Any]:
    """The corrected schema of ``service``, introduced by the service class's docstring."""
    as_served = json.loads(json.dumps(service.openapi_spec.asdict()))  # as JSON has it: status codes as strings
    as_served["info"] = own_info(as_served["info"], service.inner.__doc__)
    return corrected(as_served, guard_options(service))


async def _openapi_spec_view(self: Any, _: Request) -> Response:
    return JSONResponse(service_spec(self.service))


def apply() -> None:
    """Serve the corrected schema at /docs.json (idempotent)."""
    bentoml_app.ServiceAppFactory.openapi_spec_view = _openapi_spec_view
