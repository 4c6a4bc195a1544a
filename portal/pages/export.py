"""The export page (uttrekk): variables, filters and a format, then a file to download.

Analysts export the whole registry (the units of their analyst grants); clinicians and
registrars only their own units. The page checks the choices and counts what they match,
then offers the file as a plain link to the download route (portal/exports.py), which
checks everything again, streams the file and records the export in the audit log. While
the browser downloads, the page polls the export's progress (portal/export_progress.py)
and shows it in a progress bar and a polite live region, so a long export is never silent.

Variables are grouped by form as in the codebook, each group with "select all". Every
problem is shown next to its field, an expression's with the position of the error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import dash
import polars as pl
from dash import MATCH, ClientsideFunction, Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component

from data_access.access import AccessScope
from data_access.exports import count_registrations, exportable_units
from entry.export_columns import variables_in_forms
from entry.registry_folder import RegistryFolder
from portal import export_progress, urls
from portal.auth.guard import guarded_callback, guarded_clientside_callback
from portal.auth.identity import current_scope, database, settings
from portal.catalogue import find_registry
from portal.components.admin_tables import button, fieldset, section, status_region
from portal.components.login_prompt import login_prompt
from portal.components.shell import page_frame
from portal.export_formats import FORMATS, XLSX_MAX_ROWS
from portal.export_request import (
    DEFAULT_STATUSES,
    RequestProblems,
    export_query_string,
    parse_export,
)
from portal.i18n import normalise_language, number, request_language, translate
from portal.public_data import units

PATH = "/export"
STATUSES = ("draft", "complete", "locked")
POLL_MILLISECONDS = 1000

SETTINGS = "export-settings"
SELECT_ALL = "export-select-all"
VARIABLES = "export-variables"
FROM = "export-from"
TO = "export-to"
UNITS = "export-units"
STATUS = "export-status"
WHERE = "export-where"
FORMAT = "export-format"
PREPARE = "export-prepare"
MESSAGE = "export-message"
DOWNLOAD = "export-download"
JOB = "export-job"
POLL = "export-poll"
PROGRESS = "export-progress"

dash.register_page(__name__, path=PATH, title=lambda: translate("export.title", request_language()))


def layout(lang: str | None = None, registry: str | None = None, **_query: str) -> html.Div:
    language = normalise_language(lang)
    scope = current_scope()
    title = html.H1(translate("export.title", language))
    if not scope.authenticated:
        return page_frame(language, PATH, [title, login_prompt(language, PATH)])
    chosen = find_registry(registry)
    if chosen is None:
        refusal = translate("export.no_registry", language, registry=registry or "")
        return page_frame(language, PATH, [title, html.P(refusal)])
    allowed = exportable_units(scope, chosen.key)
    if not allowed:
        refusal = translate("export.not_allowed", language)
        return page_frame(language, PATH, [title, html.P(refusal, id="export-not-allowed")])
    content = _content(chosen, scope, allowed, language)
    return page_frame(language, PATH, content, {"registry": chosen.key})


def _content(
    registry: RegistryFolder, scope: AccessScope, allowed: frozenset[int], language: str
) -> list[Component]:
    t = partial(translate, language=language)
    whole = scope.nation_unit_id is not None and scope.nation_unit_id in allowed
    note = t("export.scope_all") if whole else t("export.scope_units", n=len(allowed))
    return [
        dcc.Store(id=SETTINGS, data={"registry": registry.key, "language": language}),
        dcc.Store(id=JOB),
        dcc.Interval(id=POLL, interval=POLL_MILLISECONDS, disabled=True),
        html.H1(t("export.heading", registry=registry.name.in_language(language))),
        html.P(t("export.intro"), className="lead"),
        html.P(note, id="export-scope"),
        section("export-variables-section", t("export.variables"), _variables(registry, language)),
        section("export-filters", t("export.filters"), _filters(allowed, language)),
        section(
            "export-format-section",
            t("export.format"),
            [
                fieldset(
                    t("export.format"),
                    [
                        _error(FORMAT),
                        dcc.RadioItems(
                            id=FORMAT,
                            options=[
                                {"label": t(f"export.format.{f}"), "value": f} for f in FORMATS
                            ],
                            value="csv",
                            className="export-choices",
                        ),
                    ],
                ),
                button(PREPARE, t("export.prepare")),
                status_region(MESSAGE),
                html.Div(id=DOWNLOAD, className="export-download"),
                html.Div(id=PROGRESS, className="export-progress"),
            ],
        ),
    ]


def _variables(registry: RegistryFolder, language: str) -> list[Component]:
    t = partial(translate, language=language)
    groups: list[Component] = [html.P(t("export.variables_hint")), _error(VARIABLES)]
    for form in registry.forms:
        names = variables_in_forms(registry.dictionary, form.key)
        if not names:
            continue
        title = form.title.in_language(language)
        options = [
            {
                "label": f"{registry.dictionary.variable(n).label.in_language(language)} ({n})",
                "value": n,
            }
            for n in names
        ]
        groups.append(
            html.Fieldset(
                className="portal-form export-form",
                children=[
                    html.Legend(title),
                    dcc.Checklist(
                        id={"type": SELECT_ALL, "form": form.key},
                        options=[{"label": t("export.select_all", form=title), "value": "all"}],
                        value=[],
                        className="export-select-all",
                    ),
                    dcc.Checklist(
                        id={"type": VARIABLES, "form": form.key},
                        options=options,
                        value=[],
                        className="export-choices export-variables",
                    ),
                ],
            )
        )
    return groups


def _filters(allowed: frozenset[int], language: str) -> list[Component]:
    t = partial(translate, language=language)
    return [
        fieldset(
            t("export.period_legend"),
            [_date_field(FROM, t("export.from"), t), _date_field(TO, t("export.to"), t)],
        ),
        fieldset(
            t("export.units"),
            [
                html.P(t("export.units_hint"), className="hint"),
                _error(UNITS),
                html.Div(
                    role="group",
                    tabIndex="0",
                    className="export-units-scroll",
                    **{"aria-label": t("export.units")},
                    children=[
                        html.Fieldset(
                            className="export-unit-group",
                            children=[
                                html.Legend(name),
                                dcc.Checklist(
                                    id={"type": UNITS, "group": key},
                                    options=options,
                                    value=[],
                                    className="export-choices",
                                ),
                            ],
                        )
                        for key, name, options in _unit_groups(allowed)
                    ],
                ),
            ],
        ),
        fieldset(
            t("export.status"),
            [
                _error(STATUS),
                dcc.Checklist(
                    id=STATUS,
                    options=[{"label": t(f"export.status.{s}"), "value": s} for s in STATUSES],
                    value=list(DEFAULT_STATUSES),
                    className="export-choices",
                ),
            ],
        ),
        html.Div(
            className="field",
            children=[
                html.Label(
                    [
                        t("export.where"),
                        " ",
                        html.Span(f"({t('export.where_hint')})", className="hint"),
                        _error(WHERE),
                    ],
                    htmlFor=WHERE,
                ),
                dcc.Input(
                    id=WHERE, type="text", value="", autoComplete="off", className="export-where"
                ),
            ],
        ),
    ]


def _date_field(field_id: str, label: str, t: Any) -> html.Div:
    """A date as text (ISO or Norwegian); the problem, if any, is read with the label."""
    return html.Div(
        className="field",
        children=[
            html.Label(
                [
                    label,
                    " ",
                    html.Span(f"({t('export.date_hint')})", className="hint"),
                    _error(field_id),
                ],
                htmlFor=field_id,
            ),
            dcc.Input(id=field_id, type="text", value="", autoComplete="off"),
        ],
    )


def _error(field_id: str) -> html.Span:
    return html.Span(id=f"{field_id}-error", className="field-error")


GROUP_LIMIT = 99
"""Options per checklist: Dash 4 virtualises a list of 100 or more, which hides the rest from
screen readers and keyboard users, so long lists are split by the tree (a region each)."""


def _unit_groups(allowed: frozenset[int]) -> list[tuple[int, str, list[dict[str, str | int]]]]:
    """The units the user may export in tree order, in groups of fewer than 100: a subtree
    small enough is one group; a larger one gives its top unit a group of its own and each
    unit below it the same treatment. Each name is indented by its depth."""
    tree = units().filter(pl.col("unit_id").is_in(list(allowed)))
    names = dict(zip(tree["unit_id"], tree["name"], strict=True))
    children: dict[int | None, list[int]] = {}
    for row in tree.sort("name").iter_rows(named=True):
        parent = row["parent_id"] if row["parent_id"] in allowed else None
        children.setdefault(parent, []).append(row["unit_id"])

    def size(unit: int) -> int:
        return 1 + sum(size(child) for child in children.get(unit, []))

    def listed(unit: int, depth: int) -> list[dict[str, str | int]]:
        own: list[dict[str, str | int]] = [{"label": "\u2003" * depth + names[unit], "value": unit}]
        return own + [o for child in children.get(unit, []) for o in listed(child, depth + 1)]

    groups: list[tuple[int, str, list[dict[str, str | int]]]] = []

    def split(unit: int) -> None:
        if size(unit) <= GROUP_LIMIT:
            groups.append((unit, names[unit], listed(unit, 0)))
            return
        groups.append((unit, names[unit], listed(unit, 0)[:1]))
        for child in children.get(unit, []):
            split(child)

    for root in children.get(None, []):
        split(root)
    return groups


# ---- callbacks --------------------------------------------------------------------------------


# "Select all" runs in the browser (assets/export.js): it only ticks boxes, reads no data.
guarded_clientside_callback(
    "authenticated",
    ClientsideFunction(namespace="portal_export", function_name="selectAll"),
    Output({"type": VARIABLES, "form": MATCH}, "value"),
    Input({"type": SELECT_ALL, "form": MATCH}, "value"),
    State({"type": VARIABLES, "form": MATCH}, "options"),
    prevent_initial_call=True,
)


_ERROR_OUTPUTS = {name: Output(f"{_id}-error", "children") for name, _id in (
    ("variables", VARIABLES), ("from", FROM), ("to", TO), ("units", UNITS),
    ("status", STATUS), ("where", WHERE), ("format", FORMAT),
)}  # fmt: skip


@guarded_callback(
    "authenticated",
    output={
        "errors": _ERROR_OUTPUTS,
        "message": Output(MESSAGE, "children"),
        "download": Output(DOWNLOAD, "children"),
        "job": Output(JOB, "data"),
        "poll": Output(POLL, "disabled"),
        "progress": Output(PROGRESS, "children"),
    },
    inputs={
        "pressed": Input(PREPARE, "n_clicks"),
        "page": State(SETTINGS, "data"),
        "variables": State({"type": VARIABLES, "form": dash.ALL}, "value"),
        "first_day": State(FROM, "value"),
        "last_day": State(TO, "value"),
        "unit_ids": State({"type": UNITS, "group": dash.ALL}, "value"),
        "statuses": State(STATUS, "value"),
        "where": State(WHERE, "value"),
        "fmt": State(FORMAT, "value"),
    },
    prevent_initial_call=True,
)
def prepare(
    pressed: object,
    page: object,
    variables: object,
    first_day: object,
    last_day: object,
    unit_ids: object,
    statuses: object,
    where: object,
    fmt: object,
) -> dict[str, Any]:
    """Check the choices; if they hold, count what they match and offer the file's link."""
    page = page if isinstance(page, Mapping) else {}
    language = normalise_language(page.get("language"))
    registry = find_registry(str(page.get("registry") or "")) if page.get("registry") else None
    scope = current_scope()
    blank = {name: "" for name in _ERROR_OUTPUTS}
    nothing = {"download": None, "job": None, "poll": True, "progress": None}
    if not pressed or registry is None or not exportable_units(scope, registry.key):
        message = translate("export.not_allowed", language)
        return {"errors": blank, "message": _outcome(message, ok=False), **nothing}
    query = export_query_string(
        _flat(variables), _flat(unit_ids), _list(statuses), first_day, last_day, where
    )
    try:
        chosen_format, export_query = parse_export(registry.dictionary, units(), fmt, query)
    except RequestProblems as refused:
        shown = {
            name: _field_error(translate(problem.key, language, **problem.values))
            if (problem := refused.problems.get(name))
            else ""
            for name in _ERROR_OUTPUTS
        }
        refusal = _outcome(translate("export.fix_problems", language), ok=False)
        return {"errors": shown, "message": refusal, **nothing}
    total = count_registrations(database(), scope, registry.key, export_query)
    if chosen_format == "xlsx" and total > XLSX_MAX_ROWS and not export_query.where:
        shown = {**blank, "format": _field_error(translate("export.error.too_large", language))}
        refusal = _outcome(translate("export.fix_problems", language), ok=False)
        return {"errors": shown, "message": refusal, **nothing}
    assert scope.actor.user_id is not None  # authenticated
    job = export_progress.new_job(settings(), scope.actor.user_id, total)
    key = "export.ready_where" if export_query.where else "export.ready"
    file_name = f"{registry.key}.{chosen_format}"
    href = urls.export_file(registry.key, chosen_format, language, job=job, **query)
    link = html.A(
        translate("export.download", language, file=file_name),
        href=href,
        id="export-download-link",
        download=file_name,
    )
    return {
        "errors": blank,
        "message": _outcome(translate(key, language, n=number(total, language, 0)), ok=True),
        "download": link,
        "job": job,
        "poll": False,
        "progress": _progress_view(
            {"state": "ready", "read": 0, "rows": 0, "total": total}, language
        ),
    }


@guarded_callback(
    "authenticated",
    output={
        "progress": Output(PROGRESS, "children", allow_duplicate=True),
        "poll": Output(POLL, "disabled", allow_duplicate=True),
    },
    inputs={
        "ticks": Input(POLL, "n_intervals"),
        "job": State(JOB, "data"),
        "page": State(SETTINGS, "data"),
    },
    prevent_initial_call=True,
)
def poll(ticks: object, job: object, page: object) -> dict[str, Any]:
    """The export's progress; polling stops when it is done or failed, or not the user's."""
    page = page if isinstance(page, Mapping) else {}
    language = normalise_language(page.get("language"))
    scope = current_scope()
    state = export_progress.read_job(settings(), job, scope.actor.user_id)
    if state is None:
        return {"progress": no_update, "poll": True}
    finished = state.get("state") in {"done", "failed"}
    return {"progress": _progress_view(state, language), "poll": finished}


def _progress_view(state: Mapping[str, Any], language: str) -> list[Component]:
    total, read, rows = (
        int(state.get("total") or 0),
        int(state.get("read") or 0),
        int(state.get("rows") or 0),
    )
    values = {
        "read": number(read, language, 0),
        "total": number(total, language, 0),
        "rows": number(rows, language, 0),
        "file": str(state.get("file") or ""),
    }
    text = translate(f"export.progress.{state.get('state', 'ready')}", language, **values)
    return [
        html.Label(translate("export.progress", language), htmlFor="export-progress-bar"),
        html.Progress(
            id="export-progress-bar",
            max=str(max(total, 1)),
            value=str(total if state.get("state") == "done" else min(read, total)),
        ),
        html.P(text, role="status", **{"aria-live": "polite"}, id="export-progress-text"),
    ]


def _outcome(text: str, *, ok: bool) -> html.P:
    return html.P(text, className="confirmation" if ok else "message")


def _field_error(text: str) -> str:
    return f" {text}" if text else ""


def _flat(groups: object) -> list[str]:
    """The ticked items of every group; anything but lists of lists counts for nothing."""
    if not isinstance(groups, list):
        return []
    return [str(name) for group in groups if isinstance(group, list) for name in group]


def _list(value: object) -> Sequence[str]:
    return [str(item) for item in value] if isinstance(value, list) else []
