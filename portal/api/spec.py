"""The one description of the API: every endpoint, its parameters, bodies and answers.

`portal.api` registers its Flask routes from `ENDPOINTS` and `openapi_document` writes the
OpenAPI 3.1 document from the same list, so an endpoint cannot exist without being
documented, nor be documented with parameters or bodies the code does not read or send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pydantic import BaseModel, TypeAdapter, create_model
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from portal.api import schemas
from portal.auth.guard import Requirement

PREFIX: Final = "/api/v1"
VERSION: Final = "1.0.0"
Method = Literal["GET", "POST", "PATCH"]

ERROR_TEXTS: Final = {
    400: "Invalid parameter or body; `field` names it.",
    401: "Not authenticated: no token where one is needed, or an invalid, expired or revoked "
    "token (refused on every endpoint, public ones too).",
    403: "Authenticated, but the grants or token do not allow this.",
    404: "No such registry, indicator or registration within the caller's scope.",
    409: "The registration changed since `version`; `current_version` is the version now. "
    "(A FHIR bundle: its draft is no longer a draft, or the same stay was being saved.)",
    422: "The record rules refuse the values; `issues` lists each field and reason. (A FHIR "
    "bundle: FHIR R4 or the registry's mapping refuses it; `field` is the element's path.)",
    429: "Too many requests for this token (or address); retry after `Retry-After`.",
}


@dataclass(frozen=True)
class PathParameter:
    name: str
    kind: Literal["string", "integer"]
    description: str

    @property
    def annotation(self) -> Any:
        """The type that parses the value (and writes its schema): ids are bounded."""
        return schemas.Id if self.kind == "integer" else str


@dataclass(frozen=True)
class Endpoint:
    """One operation. `operation` is both the OpenAPI operationId and the view's name."""

    method: Method
    path: str
    operation: str
    summary: str
    description: str
    access: Requirement
    response: type[BaseModel] | None
    status: int = 200
    also: tuple[int, ...] = ()
    """Further success statuses with the same body (a FHIR bundle: 201 created, 200 updated)."""
    media_type: str = "application/json"
    path_parameters: tuple[PathParameter, ...] = ()
    query: type[schemas.LanguageQuery] = schemas.LanguageQuery
    body: type[BaseModel] | None = None
    body_media_types: tuple[str, ...] = ("application/json",)
    errors: tuple[int, ...] = (400, 401, 429)
    optional_auth: bool = False
    tags: tuple[str, ...] = field(default=("public",))

    def path_model(self) -> type[BaseModel]:
        """The path parameters as a model, to refuse what the document says is not an id."""
        fields: dict[str, Any] = {p.name: (p.annotation, ...) for p in self.path_parameters}
        return create_model(f"{self.operation}_path", **fields)

    @property
    def flask_rule(self) -> str:
        kinds = {p.name: "int" if p.kind == "integer" else "string" for p in self.path_parameters}
        return re.sub(r"\{(\w+)\}", lambda m: f"<{kinds[m.group(1)]}:{m.group(1)}>", self.path)


REGISTRY = PathParameter("registry", "string", "Registry key, e.g. `stroke`.")
REGISTRATION_ID = PathParameter("registration_id", "integer", "Registration id.")
PUBLIC_LOOKUP_ERRORS = (400, 401, 404, 429)
AUTHENTICATED_ERRORS = (400, 401, 403, 404, 429)

ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint(
        "GET", "/openapi.json", "openapi", "This OpenAPI document",
        "The machine-readable description of every endpoint below.",
        "public", None, tags=("meta",),
    ),
    Endpoint(
        "GET", "/docs", "docs", "Readable documentation (HTML)",
        "The same description as a page: endpoints, parameters and schemas.",
        "public", None, media_type="text/html", tags=("meta",),
    ),
    Endpoint(
        "GET", "/registries", "list_registries", "Installed registries",
        "Every registry this installation serves, with its forms and indicators.",
        "public", schemas.RegistryList,
    ),
    Endpoint(
        "GET", "/registries/{registry}/indicators", "list_indicators", "Indicator definitions",
        "The registry's quality indicators as defined in its `indicators.yaml`.",
        "public", schemas.IndicatorList, path_parameters=(REGISTRY,), errors=PUBLIC_LOOKUP_ERRORS,
    ),
    Endpoint(
        "GET", "/registries/{registry}/codebook", "codebook", "The codebook",
        "The registry's data dictionary: every variable with type, choices, bounds and rules.",
        "public", schemas.Codebook, path_parameters=(REGISTRY,), errors=PUBLIC_LOOKUP_ERRORS,
    ),
    Endpoint(
        "GET", "/registries/{registry}/results", "list_results", "Indicator results",
        "Results per indicator, period and unit. Anonymous callers get the public results, "
        "with small numbers suppressed. A caller whose grants or token cover units (clinician, "
        "registrar or analyst) also gets those units' numbers unsuppressed, marked "
        "`confidential` where the public may not see them.",
        "public", schemas.ResultList, path_parameters=(REGISTRY,), query=schemas.ResultsQuery,
        errors=PUBLIC_LOOKUP_ERRORS, optional_auth=True,
    ),
    Endpoint(
        "GET", "/registries/{registry}/registrations", "list_registrations", "Registrations",
        "The registrations of the caller's units (clinician or registrar), newest event first. "
        "Paged with `limit` and `offset` (at most 5000 rows in all). Every read is audited.",
        "authenticated", schemas.RegistrationList, path_parameters=(REGISTRY,),
        query=schemas.RegistrationsQuery, errors=AUTHENTICATED_ERRORS, tags=("registrations",),
    ),
    Endpoint(
        "POST", "/registries/{registry}/registrations", "create_registration",
        "Create a registration",
        "Checked by the same rules as the form; needs a registrar grant (or token) on the unit.",
        "authenticated", schemas.SaveOut, status=201, path_parameters=(REGISTRY,),
        body=schemas.RegistrationCreate, errors=(*AUTHENTICATED_ERRORS, 422),
        tags=("registrations",),
    ),
    Endpoint(
        "GET", "/registries/{registry}/registrations/{registration_id}", "get_registration",
        "One registration",
        "A registration of the registry the caller may read; 404 for one that is absent, out "
        "of scope or of another registry alike.",
        "authenticated", schemas.RegistrationDetail, path_parameters=(REGISTRY, REGISTRATION_ID),
        errors=AUTHENTICATED_ERRORS, tags=("registrations",),
    ),
    Endpoint(
        "PATCH", "/registries/{registry}/registrations/{registration_id}",
        "update_registration", "Change a registration",
        "Values overlay the stored ones. `version` must be the current version, else 409 with "
        "`current_version` and nothing is written. A complete record needs a `reason`.",
        "authenticated", schemas.SaveOut, path_parameters=(REGISTRY, REGISTRATION_ID),
        body=schemas.RegistrationUpdate, errors=(*AUTHENTICATED_ERRORS, 409, 422),
        tags=("registrations",),
    ),
    Endpoint(
        "POST", "/fhir/Bundle", "import_fhir_bundle", "A FHIR R4 Bundle as a draft",
        "One hospital stay as a FHIR R4 Bundle (`collection` or `transaction`: one Patient, one "
        "Encounter, the Organization its `serviceProvider` names, and Conditions, Procedures, "
        "MedicationStatements and Observations) becomes a draft registration by the registry's "
        "`fhir_map.yaml`. Posting the same stay again (same Encounter identifier, else Bundle "
        "identifier) updates that draft: 201 when created, 200 when updated. Invalid resources, "
        "unknown codes and unusable values are all listed in `issues` (422), each with the "
        "element's path, and nothing is written. Needs a registrar grant (or token) on the unit.",
        "authenticated", schemas.FhirSaveOut, status=201, also=(200,), query=schemas.FhirQuery,
        body=schemas.FhirBundle, body_media_types=("application/fhir+json", "application/json"),
        errors=(*AUTHENTICATED_ERRORS, 409, 422), tags=("registrations",),
    ),
)  # fmt: skip


def endpoint_named(operation: str) -> Endpoint:
    return next(endpoint for endpoint in ENDPOINTS if endpoint.operation == operation)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of `ENDPOINTS`, schemas from the pydantic models."""
    refs, components = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kvalitetsregisterportalen API",
            "version": VERSION,
            "description": "Results, indicator definitions and codebooks of the national "
            "quality registries; registrations for systems and users with a token. Every "
            "answer but `/docs` is JSON; every error has the `ErrorBody` shape, with its "
            "message in the language asked for (`lang`, else Accept-Language). A path no "
            "operation has answers 404, a method its path does not have 405 with an `Allow` "
            "header, and a fault on the server 500, all in that shape.",
        },
        "servers": [{"url": PREFIX}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (`nkr_…`), made by `flask tokens create` "
                    "or on the portal's token page.",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "session",
                    "description": "The portal's login session; writes also need the "
                    "`X-CSRFToken` header (the `_csrf_token` cookie's value).",
                },
            },
        },
        "tags": [
            {"name": "public", "description": "No authentication needed."},
            {"name": "registrations", "description": "Patient-level records; authenticated."},
            {"name": "meta", "description": "This description."},
        ],
    }


def _schemas() -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(schemas.ErrorBody, "serialization")]
    for endpoint in ENDPOINTS:
        if endpoint.response is not None:
            wanted.append((endpoint.response, "serialization"))
        if endpoint.body is not None:
            wanted.append((endpoint.body, "validation"))
    mapping, definitions = models_json_schema(
        list(dict.fromkeys(wanted)), ref_template="#/components/schemas/{model}"
    )
    return dict(mapping), dict(definitions.get("$defs", {}))


def _operation(endpoint: Endpoint, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if endpoint.response is not None:
        content_schema: dict[str, Any] = refs[(endpoint.response, "serialization")]
    elif endpoint.media_type == "text/html":
        content_schema = {"type": "string"}
    else:
        content_schema = {"type": "object"}
    responses: dict[str, Any] = {
        str(status): {
            "description": "OK" if status == 200 else "Created",
            "content": {endpoint.media_type: {"schema": content_schema}},
        }
        for status in (endpoint.status, *endpoint.also)
    }
    error_ref = refs[(schemas.ErrorBody, "serialization")]
    for status in endpoint.errors:
        responses[str(status)] = {
            "description": ERROR_TEXTS[status],
            "content": {"application/json": {"schema": error_ref}},
        }
    operation: dict[str, Any] = {
        "operationId": endpoint.operation,
        "summary": endpoint.summary,
        "description": endpoint.description,
        "tags": list(endpoint.tags),
        "parameters": [*_path_parameters(endpoint), *query_parameters(endpoint)],
        "responses": responses,
        "security": _security(endpoint),
    }
    if endpoint.body is not None:
        body_schema = {"schema": refs[(endpoint.body, "validation")]}
        operation["requestBody"] = {
            "required": True,
            "content": {media: body_schema for media in endpoint.body_media_types},
        }
    return operation


def _path_parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "in": "path",
            "required": True,
            "description": p.description,
            "schema": TypeAdapter(p.annotation).json_schema(),
        }
        for p in endpoint.path_parameters
    ]


def query_parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    """The query model's fields as OpenAPI parameters (aliases such as `from` as sent)."""
    schema = endpoint.query.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _security(endpoint: Endpoint) -> list[dict[str, list[str]]]:
    schemes: list[dict[str, list[str]]] = [{"bearerToken": []}, {"sessionCookie": []}]
    if endpoint.access == "public":
        return [{}, *schemes] if endpoint.optional_auth else []
    return schemes
