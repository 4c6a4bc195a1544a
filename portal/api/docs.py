"""The API's documentation page: the OpenAPI document as plain, server-rendered HTML.

Read from the very document `/api/v1/openapi.json` serves, so the page and the document
cannot disagree. No scripts at all (the CSP allows none of ours), tables with captions and
header cells, and the portal's own page frame (`base.html`).
"""

from __future__ import annotations

from typing import Any

import flask

from portal.api.spec import ENDPOINTS, PREFIX, openapi_document
from portal.auth.views import render
from portal.i18n import Language


def docs_page(language: Language) -> flask.Response:
    document = openapi_document()
    access = {e.operation: "optional" if e.optional_auth else e.access for e in ENDPOINTS}
    operations = [
        {
            "id": operation["operationId"],
            "method": method.upper(),
            "path": path,
            "summary": operation["summary"],
            "description": operation["description"],
            "access": access[operation["operationId"]],
            "parameters": [
                {
                    "name": p["name"],
                    "in": p["in"],
                    "required": p["required"],
                    "type": type_text(p["schema"]),
                    "description": p.get("description", ""),
                }
                for p in operation["parameters"]
            ],
            "body": _ref_name(
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
            ),
            "responses": [
                {
                    "status": status,
                    "type": ", ".join(
                        f"{media} {type_text(body['schema'])}"
                        for media, body in answer.get("content", {}).items()
                    ),
                    "description": answer["description"],
                }
                for status, answer in operation["responses"].items()
            ],
        }
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    schemas = [
        {
            "name": name,
            "description": schema.get("description", ""),
            "type": type_text(schema),
            "properties": [
                {
                    "name": prop_name,
                    "required": prop_name in schema.get("required", []),
                    "type": type_text(prop),
                    "description": prop.get("description", ""),
                }
                for prop_name, prop in schema.get("properties", {}).items()
            ],
        }
        for name, schema in sorted(document["components"]["schemas"].items())
    ]
    openapi_url = f"{PREFIX}/openapi.json"
    return render(
        "api/docs.html",
        "api.docs.title",
        document=document,
        operations=operations,
        schemas=schemas,
        prefix=PREFIX,
        openapi_url=openapi_url,
    )


def type_text(schema: dict[str, Any]) -> str:
    """A JSON schema in a few words: `integer`, `array of Issue`, `string | null`, `one of …`."""
    if "$ref" in schema:
        return _ref_name(schema) or "object"
    if "anyOf" in schema:
        return " | ".join(type_text(part) for part in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(str(value) for value in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {type_text(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        return f"object of {type_text(extra)}" if isinstance(extra, dict) and extra else "object"
    text = str(kind)
    if "format" in schema:
        text += f" ({schema['format']})"
    bounds = [
        f"{symbol} {schema[key]}"
        for key, symbol in (("minimum", "≥"), ("maximum", "≤"), ("minLength", "length ≥"))
        if key in schema
    ]
    return f"{text}, {', '.join(bounds)}" if bounds else text


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return str(ref).rsplit("/", 1)[-1] if ref else None
