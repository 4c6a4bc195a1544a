"""The audit log (logg) for the installation admin: filter, read, and download as CSV.

Reading the log is itself written down: each search records `audit.view` with its filters
and each download `audit.export` with its filters and row count (Normen: reads and exports
are traced, and the log of who read the log is no exception). The page shows the newest
`VIEW_LIMIT` events that match; the download holds up to `EXPORT_LIMIT`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any, NamedTuple

import dash
import polars as pl
from dash import Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component

from data_access.accounts import list_users
from data_access.audit import ACTIONS, events_csv, record_event, search_events
from portal.auth.guard import Requirement, guarded_callback
from portal.auth.identity import current_actor, current_scope, database
from portal.components.admin_tables import (
    LOCAL_TIME,
    admin_page,
    as_text,
    button,
    data_table,
    fieldset,
    local_time,
    outcome,
    section,
    status_region,
    suggestions,
    text_field,
)
from portal.i18n import normalise_language, request_language, translate

PATH = "/admin/audit"
REQUIREMENT: Requirement = "installation_admin"
VIEW_LIMIT = 500
EXPORT_LIMIT = 100_000

LANGUAGE = "admin-audit-language"
USER = "admin-audit-user"
USER_NAMES = "admin-audit-user-names"
ACTION = "admin-audit-action"
ACTION_NAMES = "admin-audit-action-names"
FROM = "admin-audit-from"
TO = "admin-audit-to"
OBJECT = "admin-audit-object"
SHOW = "admin-audit-show"
EXPORT = "admin-audit-export"
DOWNLOAD = "admin-audit-download"
STATUS = "admin-audit-status"
TABLE = "admin-audit-table"
FILTER_FIELDS = (USER, ACTION, FROM, TO, OBJECT)
# The query keys of a permalink to a filtered log, in the order of FILTER_FIELDS.
QUERY_KEYS = ("user", "action", "from", "to", "object")

dash.register_page(
    __name__, path=PATH, title=lambda: translate("admin.audit.title", request_language())
)


class AuditFilters(NamedTuple):
    """What the admin asked for; the period runs from the first to the last day, both whole.

    (A NamedTuple, not a dataclass: Dash runs page modules before they are in `sys.modules`,
    where `dataclass` looks for them.)
    """

    username: str | None = None
    action: str | None = None
    first_day: date | None = None
    last_day: date | None = None
    object_id: str | None = None

    def search_arguments(self) -> dict[str, Any]:
        """Keywords for `search_events`: days begin at midnight in Oslo, the end is exclusive."""
        start = end = None
        if self.first_day is not None:
            start = datetime.combine(self.first_day, time(), LOCAL_TIME)
        if self.last_day is not None:
            end = datetime.combine(self.last_day + timedelta(days=1), time(), LOCAL_TIME)
        return {
            "username": self.username,
            "action": self.action,
            "start": start,
            "end": end,
            "object_id": self.object_id,
        }

    def details(self) -> dict[str, str]:
        """The filters given, for the audit event of the search or download."""
        given = {
            "username": self.username,
            "action": self.action,
            "from": self.first_day.isoformat() if self.first_day else None,
            "to": self.last_day.isoformat() if self.last_day else None,
            "object_id": self.object_id,
        }
        return {key: value for key, value in given.items() if value is not None}


class SearchError(ValueError):
    """A search the page will not run; `key` is the catalogue key of the reason."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def parse_filters(
    username: object, action: object, first_day: object, last_day: object, object_id: object
) -> AuditFilters:
    """The filters from the fields' text; `SearchError` for a date that is not one.

    Values are taken as `object`: a forged request may send numbers or lists, which are
    read as their text and refused or matched like anything typed.
    """
    first, last = _day(first_day, "admin.audit.bad_from"), _day(last_day, "admin.audit.bad_to")
    if first is not None and last is not None and last < first:
        raise SearchError("admin.audit.bad_period")
    return AuditFilters(
        username=_text(username, lower=True),
        action=_text(action, lower=True),
        first_day=first,
        last_day=last,
        object_id=_text(object_id),
    )


def layout(lang: str | None = None, **query: str) -> html.Div:
    language = normalise_language(lang)
    prefilled = [query.get(key) for key in QUERY_KEYS]
    return admin_page(
        language, PATH, REQUIREMENT, current_scope(), lambda: _content(language, prefilled)
    )


def _content(language: str, prefilled: list[str | None]) -> list[Component]:
    t = partial(translate, language=language)
    user, action, first_day, last_day, object_id = prefilled
    date_hint = t("admin.audit.date_hint")
    return [
        dcc.Store(id=LANGUAGE, data=language),
        dcc.Download(id=DOWNLOAD),
        suggestions(USER_NAMES, list_users(database())["username"].to_list()),
        suggestions(ACTION_NAMES, _action_names()),
        section(
            "admin-audit-filter",
            t("admin.audit.filters"),
            [
                fieldset(
                    t("admin.audit.filter_legend"),
                    [
                        text_field(USER, t("admin.audit.user"), value=user, suggestions=USER_NAMES),
                        text_field(
                            ACTION,
                            t("admin.audit.action"),
                            value=action,
                            hint=t("admin.audit.action_hint"),
                            suggestions=ACTION_NAMES,
                        ),
                        text_field(FROM, t("admin.audit.from"), value=first_day, hint=date_hint),
                        text_field(TO, t("admin.audit.to"), value=last_day, hint=date_hint),
                        text_field(
                            OBJECT,
                            t("admin.audit.object"),
                            value=object_id,
                            hint=t("admin.audit.object_hint"),
                        ),
                        button(SHOW, t("admin.audit.show")),
                        button(EXPORT, t("admin.audit.export")),
                    ],
                ),
                status_region(STATUS),
            ],
        ),
        # The table is filled by the search callback, which runs once when the page opens,
        # so that every look at the log is recorded by the same code.
        section("admin-audit-events", t("admin.audit.events"), [html.Div(id=TABLE)]),
    ]


def events_table(events: pl.DataFrame, language: str) -> html.Div:
    headers = [
        translate(f"admin.audit.column.{name}", language)
        for name in ("id", "time", "user", "address", "action", "object", "details")
    ]
    rows = [
        (
            event["id"],
            local_time(event["occurred_at"]),
            event["username"],
            event["remote_addr"],
            event["action"],
            " ".join(str(v) for v in (event["object_type"], event["object_id"]) if v),
            html.Code(event["details"]) if event["details"] not in (None, "{}") else None,
        )
        for event in events.iter_rows(named=True)
    ]
    return data_table(
        "admin-audit",
        translate("admin.audit.caption", language, n=len(rows)),
        headers,
        rows,
        translate("admin.audit.none", language),
    )


_FILTER_STATES = {
    "username": State(USER, "value"),
    "action": State(ACTION, "value"),
    "first_day": State(FROM, "value"),
    "last_day": State(TO, "value"),
    "object_id": State(OBJECT, "value"),
}


@guarded_callback(
    REQUIREMENT,
    output={"table": Output(TABLE, "children"), "status": Output(STATUS, "children")},
    inputs={
        "submitted": [Input(SHOW, "n_clicks"), *(Input(f, "n_submit") for f in FILTER_FIELDS)],
        "filters": _FILTER_STATES,
        "language": State(LANGUAGE, "data"),
    },
)
def show_events(
    submitted: list[int | None], filters: dict[str, object], language: str | None
) -> dict[str, Any]:
    """The newest matching events; runs when the page opens too. Recorded as `audit.view`."""
    lang = normalise_language(language)
    try:
        events = audited_search(filters, VIEW_LIMIT, "audit.view")
    except SearchError as refusal:
        return {"table": no_update, "status": outcome(translate(refusal.key, lang), ok=False)}
    key = "admin.audit.shown_limited" if events.height >= VIEW_LIMIT else "admin.audit.shown"
    return {
        "table": events_table(events, lang),
        "status": outcome(translate(key, lang, n=events.height), ok=True),
    }


@guarded_callback(
    REQUIREMENT,
    output={
        "download": Output(DOWNLOAD, "data"),
        "status": Output(STATUS, "children", allow_duplicate=True),
    },
    inputs={
        "pressed": Input(EXPORT, "n_clicks"),
        "filters": _FILTER_STATES,
        "language": State(LANGUAGE, "data"),
    },
    prevent_initial_call=True,
)
def export_events(
    pressed: int | None, filters: dict[str, object], language: str | None
) -> dict[str, Any]:
    """The matching events as CSV (UTC times, details as JSON). Recorded as `audit.export`."""
    lang = normalise_language(language)
    if not pressed:
        return {"download": no_update, "status": no_update}
    try:
        events = audited_search(filters, EXPORT_LIMIT, "audit.export")
    except SearchError as refusal:
        return {"download": no_update, "status": outcome(translate(refusal.key, lang), ok=False)}
    filename = f"audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv"
    limited = events.height >= EXPORT_LIMIT
    key = "admin.audit.exported_limited" if limited else "admin.audit.exported"
    return {
        "download": dcc.send_string(events_csv(events), filename, type="text/csv"),
        "status": outcome(translate(key, lang, n=events.height), ok=True),
    }


def audited_search(filters: Mapping[str, object], limit: int, action: str) -> pl.DataFrame:
    """The matching events, newest first, for an installation admin only.

    The look is recorded as `action`, with its filters and row count, before it is shown.
    """
    if not current_scope().is_installation_admin():
        raise SearchError("admin.not_allowed")
    wanted = parse_filters(**filters)
    events = search_events(database(), **wanted.search_arguments(), limit=limit)
    record_event(
        database(),
        action,
        current_actor(),
        object_type="audit_log",
        details={"filters": wanted.details(), "rows": events.height},
    )
    return events


def _action_names() -> list[str]:
    """Every agreed action and each family of them ("login" finds login.success and the rest)."""
    families = {name.split(".")[0] for name in ACTIONS if "." in name}
    return sorted(families | set(ACTIONS))


def _text(value: object, *, lower: bool = False) -> str | None:
    cleaned = as_text(value).strip()
    if not cleaned:
        return None
    return cleaned.lower() if lower else cleaned


def _day(value: object, problem: str) -> date | None:
    """A day written as 2025-03-31 or as Norwegians do, 31.03.2025."""
    text = as_text(value).strip()
    if not text:
        return None
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise SearchError(problem)
