"""The REST API under `/api/v1`: routes built from `spec.ENDPOINTS`, JSON errors, tokens.

Authentication is a bearer API token (`data_access.api_tokens`) or the portal's login
session. CSRF: a request carrying a bearer token is exempt, because a browser never adds an
`Authorization` header to a cross-site request on its own, so a forged request cannot carry
the token; a request authenticated by the session cookie is exactly what CSRF forges, so its
writes still need the `X-CSRFToken` header, checked here (the blueprint is exempt from
Flask-WTF's global check only so that the token case can pass). Rate limits count per token
(per user for sessions, per address for anonymous callers), and every request made with a
token is audited as `api.request` with method, path and status.

Every answer under the prefix is JSON, Flask's own errors too: a path no API route takes is
a 404 (not the portal's catch-all page, which would otherwise answer it with HTML), a method
the path does not have a 405 with `Allow`, and a fault a 500 that tells nothing of the code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFError, CSRFProtect
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, TooManyRequests

from data_access.api_tokens import record_use
from data_access.audit import record_event
from portal.api import views
from portal.api.errors import ApiError, error_response, invalid_input, request_language
from portal.api.spec import ENDPOINTS, PREFIX, Endpoint
from portal.auth.guard import route_access
from portal.auth.identity import (
    bearer_secret,
    current_actor,
    current_api_token,
    current_user,
    database,
    now,
    remote_addr,
)

DEFAULT_RATE_LIMIT = "300 per minute"
"""Per token (or user, or address); `API_RATE_LIMIT` in the Flask config overrides it."""

TEMPLATES = Path(__file__).resolve().parent / "templates"

HTTP_ERRORS: dict[int, tuple[str, str]] = {
    404: ("not_found", "api.error.no_route"),
    405: ("method_not_allowed", "api.error.method"),
    500: ("server_error", "api.error.server"),
}
"""Flask's own errors as the API's `code` and message; others are named after their status."""


def init_app(server: flask.Flask) -> None:
    """Register the API; call after `portal.auth.init_app` (it needs CSRF and the limiter)."""
    blueprint = make_blueprint()
    csrf: CSRFProtect = server.extensions["csrf"]
    csrf.exempt(blueprint)
    limiter: Limiter = next(iter(server.extensions["limiter"]))
    limiter.shared_limit(_rate_limit, scope="api", key_func=rate_key)(blueprint)
    server.register_blueprint(blueprint)
    # On the app, not the blueprint: routing errors happen before a blueprint is chosen.
    server.before_request(_refuse_unrouted)
    server.register_error_handler(HTTPException, _http_error)


def make_blueprint() -> flask.Blueprint:
    """A fresh blueprint per app (tests build many apps), one route per described endpoint."""
    blueprint = flask.Blueprint("api", __name__, url_prefix=PREFIX, template_folder=TEMPLATES)
    for endpoint in ENDPOINTS:
        view = getattr(views, endpoint.operation)
        blueprint.add_url_rule(
            endpoint.flask_rule,
            endpoint.operation,
            route_access(endpoint.access)(_handler(endpoint, view)),
            methods=[endpoint.method],
        )
    blueprint.before_request(_check_credentials)
    blueprint.after_request(_after)
    blueprint.register_error_handler(ApiError, error_response)
    blueprint.register_error_handler(TooManyRequests, _too_many)
    return blueprint


def rate_key() -> str:
    use = current_api_token()
    if use is not None and use.token_id is not None and use.scope is not None:
        return f"api-token:{use.token_id}"
    user = current_user()
    if use is None and user is not None:
        return f"api-user:{user.id}"
    return f"api-address:{remote_addr()}"


def _rate_limit() -> str:
    limit: str = flask.current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT)
    return limit


def _handler(endpoint: Endpoint, view: Callable[..., Any]) -> Callable[..., flask.Response]:
    path_model = endpoint.path_model()

    def handle(**path: Any) -> flask.Response:
        language = request_language()
        try:
            path = path_model.model_validate(path).model_dump()
        except ValidationError as error:
            raise invalid_input(error, "path") from None
        try:
            query = endpoint.query.model_validate(flask.request.args.to_dict())
        except ValidationError as error:
            raise invalid_input(error, "query") from None
        body = None
        if endpoint.body is not None:
            payload = flask.request.get_json(silent=True)
            if not isinstance(payload, dict):
                raise ApiError(400, "invalid", "api.error.invalid_json", None)
            try:
                body = endpoint.body.model_validate(payload)
            except ValidationError as error:
                raise invalid_input(error, "body") from None
        result = view(language=language, query=query, body=body, **path)
        headers: dict[str, str] = {}
        status = endpoint.status
        if isinstance(result, tuple):  # (model, headers) or (model, headers, status)
            result, headers, *rest = result
            status = rest[0] if rest else status
        if isinstance(result, flask.Response):
            return result
        assert isinstance(result, BaseModel) and endpoint.response is not None
        assert status in (endpoint.status, *endpoint.also)
        response = flask.jsonify(endpoint.response.model_validate(result).model_dump(mode="json"))
        response.status_code = status
        response.headers.update(headers)
        return response

    handle.__name__ = endpoint.operation
    handle.__doc__ = endpoint.summary
    return handle


def _check_credentials() -> flask.Response | None:
    """A refused token is refused everywhere; a session-cookie write needs the CSRF header."""
    use = current_api_token()
    if use is not None and use.scope is None:
        return error_response(
            ApiError(401, "invalid_token", f"api.error.token_{use.refusal}", "Authorization")
        )
    methods = flask.current_app.config["WTF_CSRF_METHODS"]
    if use is None and flask.request.method in methods:
        csrf: CSRFProtect = flask.current_app.extensions["csrf"]
        try:
            csrf.protect()
        except CSRFError as error:
            record_event(
                database(),
                "request.csrf_refused",
                current_actor(),
                details={"path": flask.request.path, "reason": error.description},
            )
            return error_response(ApiError(400, "csrf", "api.error.csrf", "X-CSRFToken"))
    return None


def _after(response: flask.Response) -> flask.Response:
    use = current_api_token() if bearer_secret() is not None else None
    if use is not None and use.scope is not None:
        record_use(
            database(),
            use,
            now(),
            {
                "method": flask.request.method,
                "path": flask.request.path,
                "query": flask.request.query_string.decode("utf-8", "replace")[:500],
                "status": response.status_code,
            },
        )
    if use is not None or current_user() is not None:
        response.headers["Cache-Control"] = "no-store"  # answers for one caller only
    return response


def _too_many(error: TooManyRequests) -> flask.Response:
    response = error_response(ApiError(429, "rate_limited", "api.error.rate_limited", None))
    retry = getattr(error, "retry_after", None)
    if retry:
        response.headers["Retry-After"] = str(retry)
    return response


def _in_api(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _refuse_unrouted() -> None:
    """`before_request`: under the prefix, what no API route takes is the API's 404 or 405.

    The portal's pages answer every unknown GET path themselves (with HTML), and their
    catch-all route would turn another method into a 405 listing GET; both are wrong here.
    So is Werkzeug's redirect of a path with `//` to a route of the API (an HTML 308 for
    some methods, a page for GET): such a path is not the API's either.
    """
    if flask.request.blueprint == "api" or not _in_api(flask.request.path):
        return
    allowed = _api_methods(flask.request.path)
    if allowed:
        raise MethodNotAllowed(valid_methods=allowed)
    raise NotFound()


def _api_methods(path: str) -> list[str]:
    """The methods for which an API route takes `path` (only asked on the way to an error)."""
    adapter = flask.current_app.create_url_adapter(flask.request)
    assert adapter is not None
    methods = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        try:
            endpoint, _ = adapter.match(path, method=method)
        except HTTPException:
            continue
        if str(endpoint).startswith("api."):
            methods.append(method)
    return methods


def _http_error(error: HTTPException) -> flask.Response | HTTPException:
    """Under the prefix, Flask's error as the API's JSON error; elsewhere Flask's own page."""
    if not _in_api(flask.request.path):
        return error
    status = error.code or 500
    code, key = HTTP_ERRORS.get(status, (error.name.lower().replace(" ", "_"), "api.error.http"))
    allowed = ", ".join(getattr(error, "valid_methods", None) or ())
    response = error_response(
        ApiError(
            status,
            code,
            key,
            None,
            http_status=status,
            method=flask.request.method,
            allowed=allowed,
        )
    )
    if allowed:
        response.headers["Allow"] = allowed
    return response
