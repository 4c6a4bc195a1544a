"""Errors of the API: one JSON shape with the field at fault, in the request's language."""

from __future__ import annotations

from collections.abc import Iterable

import flask
from pydantic import ValidationError

from entry.record_rules import Issue, RecordCheck
from portal.api.schemas import ErrorBody, ErrorDetail, IssueOut
from portal.i18n import Language, normalise_language, translate


class ApiError(Exception):
    """Raised by a view; becomes `{"error": {...}}` with `status`. `key` is a catalogue key."""

    def __init__(
        self,
        status: int,
        code: str,
        key: str,
        field: str | None = None,
        *,
        current_version: int | None = None,
        issues: Iterable[IssueOut] = (),
        **values: object,
    ) -> None:
        super().__init__(key)
        self.status = status
        self.code = code
        self.key = key
        self.field = field
        self.current_version = current_version
        self.issues = list(issues)
        self.values = values


def request_language() -> Language:
    """`?lang=` first, then the Accept-Language header; bokmål when neither says English."""
    asked = flask.request.args.get("lang")
    if asked:
        return normalise_language(asked)
    best = flask.request.accept_languages.best_match(["nb", "no", "nn", "en"], default="nb")
    return "en" if best == "en" else "nb"


def error_response(error: ApiError) -> flask.Response:
    language = request_language()
    body = ErrorBody(
        error=ErrorDetail(
            message=translate(error.key, language, **error.values),
            field=error.field,
            code=error.code,
            current_version=error.current_version,
            issues=error.issues,
        )
    )
    response = flask.jsonify(body.model_dump(mode="json", exclude_none=False))
    response.status_code = error.status
    return response


def invalid_input(error: ValidationError, where: str) -> ApiError:
    """The first problem pydantic found, naming the parameter or body field (`values.age`)."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    field = location if where == "query" else location or None
    return ApiError(400, "invalid", "api.error.invalid_input", field, detail=first["msg"])


def issues_of(check: RecordCheck | None, language: Language) -> list[IssueOut]:
    """The findings that stop a save (for a draft: unreadable input), errors then warnings."""
    if check is None:
        return []
    if check.target_status == "draft":
        blocking: list[Issue] = [issue for issue in check.errors if issue.blocks_draft]
    else:
        blocking = [*check.errors, *check.unacknowledged]
    return issue_list(blocking, language)


def issue_list(issues: Iterable[Issue], language: Language) -> list[IssueOut]:
    return [
        IssueOut(
            field=f"values.{issue.variable}",
            rule=issue.rule,
            severity="warning" if issue.severity == "warning" else "error",
            message=issue.message.in_language(language),
        )
        for issue in issues
    ]
