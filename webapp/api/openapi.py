"""The OpenAPI 3.1 document, built from the routes themselves and the pydantic models.

Each view carries its `@operation(...)` (summary, body model, responses); `document()` walks the
app's URL map for the API's routes, so a route cannot be left out, and takes every schema from
the same models the requests are validated with (pydantic's JSON Schema is draft 2020-12, the
dialect of OpenAPI 3.1).
"""

import re
from dataclasses import dataclass, field

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from webapp.api.schemas import (
    MAX_ID,
    AlertmanagerSummary,
    AlertmanagerWebhook,
    AssetsSync,
    AssetsSyncSummary,
    ErrorBody,
    IncidentChange,
    IncidentCreate,
    IncidentOut,
    UnroutedOut,
)

VERSION = "1.0.0"
SCHEME = "bearerAuth"

ERRORS = {
    400: ("BadRequest", "The body is not valid JSON."),
    401: ("Unauthorized", "No API token, or one that is unknown or revoked."),
    404: ("NotFound", "No such record in the token's company (or no such endpoint)."),
    413: ("PayloadTooLarge", "The body is larger than the API accepts."),
    415: ("UnsupportedMediaType", "The body is not sent as application/json."),
    422: ("UnprocessableContent", "Fields are missing or wrong; `fields` lists each problem."),
    429: ("TooManyRequests", "The token used its allowance (API_RATE_LIMIT); wait Retry-After."),
}
# Headers of some errors, by status.
ERROR_HEADERS = {
    401: {"WWW-Authenticate": 'Bearer realm="api" (RFC 6750)'},
    429: {"Retry-After": "Seconds until the token may send again."},
}


@dataclass(frozen=True)
class Operation:
    summary: str
    description: str = ""
    body: type[BaseModel] | None = None
    body_required: bool = True
    # status: (description, a model, a tuple of models, a JSON Schema dict, or None)
    responses: dict = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    query: tuple[dict, ...] = ()
    public: bool = False  # no token needed (also read by the API's authentication)


def operation(**kwargs):
    """Describe a view for the document (and say whether it needs a token)."""

    def decorate(view):
        view.openapi = Operation(**kwargs)
        return view

    return decorate


def api_rules(app: Flask):
    """(rule, view) for every route of the API blueprint."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] == "api":
            yield rule, app.view_functions[rule.endpoint]


def openapi_path(rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def methods(rule) -> list[str]:
    return sorted(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})


def document(app: Flask) -> dict:
    cached = app.extensions.get("openapi_document")
    if cached is None:
        cached = app.extensions["openapi_document"] = _build(app)
    return cached


def _schemas():
    pairs = [
        (m, "validation") for m in (IncidentCreate, IncidentChange, AlertmanagerWebhook, AssetsSync)
    ]
    pairs += [
        (m, "serialization")
        for m in (IncidentOut, AlertmanagerSummary, UnroutedOut, AssetsSyncSummary)
    ]
    pairs.append((ErrorBody, "serialization"))
    refs, definitions = models_json_schema(pairs, ref_template="#/components/schemas/{model}")
    return {model: ref for (model, _mode), ref in refs.items()}, definitions["$defs"]


def _build(app: Flask) -> dict:
    refs, schemas = _schemas()
    paths: dict[str, dict] = {}
    for rule, view in api_rules(app):
        op: Operation = view.openapi  # every API view has one (a test checks)
        for method in methods(rule):
            paths.setdefault(openapi_path(rule), {})[method] = _operation(rule, op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MSP operations dashboard API",
            "version": VERSION,
            "description": (
                "Monitoring tools record incidents on a company's services, and an RMM keeps "
                "its devices (assets) in step. Every request but "
                "this document's carries a company's API token (`flask tokens create NAME`) as "
                '`Authorization: Bearer <token>`. Errors are JSON `{"error": ...}` with more '
                "details where useful. A method a path does not take is a 405 with `Allow`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A company's API token, made with `flask tokens create NAME`.",
                }
            },
            "responses": {
                name: {
                    "description": text,
                    "content": {"application/json": {"schema": refs[ErrorBody]}},
                    **(
                        {
                            "headers": {
                                header: {"schema": {"type": "string"}, "description": about}
                                for header, about in ERROR_HEADERS[status].items()
                            }
                        }
                        if status in ERROR_HEADERS
                        else {}
                    ),
                }
                for status, (name, text) in ERRORS.items()
            },
        },
    }


def _operation(rule, op: Operation, refs) -> dict:
    result = {
        "operationId": rule.endpoint.split(".", 1)[1],
        "summary": op.summary,
        "parameters": [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            }
            for name in sorted(rule.arguments)
        ]
        + list(op.query),
        "responses": {},
    }
    if op.description:
        result["description"] = op.description
    if op.public:
        result["security"] = []
    if op.body is not None:
        result["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": refs[op.body]}},
        }
    for status, (text, model) in op.responses.items():
        response = {"description": text}
        if model is not None:
            response["content"] = {"application/json": {"schema": _schema(model, refs)}}
        result["responses"][str(status)] = response
    # Every request with a token spends its allowance.
    for status in (*op.errors, *(() if op.public else (429,))):
        if str(status) not in result["responses"]:
            result["responses"][str(status)] = {
                "$ref": f"#/components/responses/{ERRORS[status][0]}"
            }
    if not result["parameters"]:
        del result["parameters"]
    return result


def _schema(model, refs) -> dict:
    if isinstance(model, dict):  # a schema given as it is
        return model
    if isinstance(model, tuple):  # one of several bodies
        return {"anyOf": [refs[m] for m in model]}
    return refs[model]
