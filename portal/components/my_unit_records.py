"""The drill-down list: one indicator's registrations at the user's unit, as a table.

Built from `data_access.unit_records.DrillDown` (already scoped and audited). Values are
written as the reader knows them: a choice by its label, a yes/no in words, numbers with
the language's decimal mark. National ids arrive masked and stay so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

from dash import dcc, html
from dash.development.base_component import Component

from data_access.unit_records import CORE_SORTS, DrillDown, NumeratorFilter, StatusFilter
from entry.dictionary_model import Dictionary, Variable
from entry.registry_folder import RegistryFolder
from indicators import Indicator
from portal import urls
from portal.components.scroll_table import scroll_table
from portal.i18n import date_text, number, translate

PREFIX = "drill-down"
FILTER_IDS = (f"{PREFIX}-numerator", f"{PREFIX}-status", f"{PREFIX}-sort", f"{PREFIX}-order")
QUERY_KEYS = ("numerator", "status", "sort", "order")
LOCATION = f"{PREFIX}-location"
REQUEST = f"{PREFIX}-request"
TABLE = f"{PREFIX}-table-region"
STATUS = f"{PREFIX}-status"
PAGE_ROWS = 100
"""Records per page of the list: one screenful to read, and a page of 2,000 rows took a
worker a quarter of a second to build at 1,000,000 registrations (benchmarks/load.py)."""


def variable_text(variable: Variable | None, value: object, language: str) -> str:
    """A stored value in words: choice labels, yes/no, numbers and dates as the reader writes."""
    if value is None:
        return "–"
    if variable is not None and variable.choices:
        codes = value if isinstance(value, list) else [value]
        labels = {c.code: c.label.in_language(language) for c in variable.choices}
        return "; ".join(labels.get(_code(v), str(v)) for v in codes)
    if variable is not None and variable.type == "yesno":
        return translate("drilldown.yes" if value in (1, True) else "drilldown.no", language)
    if isinstance(value, bool):
        return translate("drilldown.yes" if value else "drilldown.no", language)
    if isinstance(value, float):
        text = number(value, language, 0 if value.is_integer() else 1)
    elif isinstance(value, int):
        text = number(value, language, 0)
    elif isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, date):
        text = date_text(value, language)
    elif isinstance(value, time):
        text = value.strftime("%H:%M")
    else:
        text = str(value)
    return f"{text} {variable.unit}" if variable is not None and variable.unit else text


def _code(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def record_form(registry: RegistryFolder, indicator: Indicator, variables: Sequence[str]) -> str:
    """The form a registrar most likely wants to open: where the outcome is recorded."""
    forms = {v.name: v.form for v in registry.dictionary.variables}
    for name in reversed(variables):
        if name in forms:
            return forms[name]
    return registry.forms[0].key if registry.forms else ""


def filter_options(
    indicator: Indicator, variables: Sequence[str], dictionary: Dictionary, language: str
) -> dict[str, list[dict[str, str]]]:
    """The choices of each filter; the numerator filter only exists for proportions."""
    labels = {v.name: v.label.in_language(language) for v in dictionary.variables}
    sorts = [
        c
        for c in CORE_SORTS
        if c != ("value" if indicator.type == "proportion" else "in_numerator")
    ]
    return {
        "numerator": [
            {"label": translate(f"drilldown.numerator.{k}", language), "value": k}
            for k in (("all", "in", "out") if indicator.type == "proportion" else ("all",))
        ],
        "status": [
            {"label": translate(f"drilldown.status.{k}", language), "value": k}
            for k in ("finished", "draft", "all")
        ],
        "sort": [
            *({"label": translate(f"drilldown.column.{c}", language), "value": c} for c in sorts),
            *({"label": labels.get(v, v), "value": v} for v in variables),
        ],
        "order": [
            {"label": translate(f"drilldown.order.{k}", language), "value": k}
            for k in ("asc", "desc")
        ],
    }


def records_table(
    registry: RegistryFolder,
    indicator: Indicator,
    found: DrillDown,
    *,
    editable: bool,
    caption: str,
    language: str,
) -> html.Div:
    """The records with their membership and the indicator's variables; a link to open
    each record where the user may edit it (registrars)."""
    variables = {v.name: v for v in registry.dictionary.variables}
    proportion = indicator.type == "proportion"
    core = [
        "id",
        "event_date",
        "national_id_masked",
        "status",
        "in_numerator" if proportion else "value",
    ]
    headers: list[Component] = [
        html.Th(translate(f"drilldown.column.{c}", language), scope="col") for c in core
    ]
    headers += [
        html.Th([variables[n].label.in_language(language), html.Br(), html.Code(n)], scope="col")
        for n in found.variables
    ]
    if editable:
        headers.append(html.Th(translate("drilldown.column.open", language), scope="col"))
    form = record_form(registry, indicator, found.variables)
    body = [
        _row(row, core, found.variables, variables, indicator, registry, form, editable, language)
        for row in found.rows.iter_rows(named=True)
    ]
    if not body:
        body = [html.Tr(html.Td(translate("drilldown.none", language), colSpan=len(headers)))]
    caption_id = f"{PREFIX}-caption"
    return scroll_table(
        f"{PREFIX}-table",
        "admin-table drill-down-table",
        caption,
        html.Tr(headers),
        body,
        caption_id=caption_id,
    )


def _row(
    row: Mapping[str, Any],
    core: Sequence[str],
    names: Sequence[str],
    variables: Mapping[str, Variable],
    indicator: Indicator,
    registry: RegistryFolder,
    form: str,
    editable: bool,
    language: str,
) -> html.Tr:
    cells: list[Component] = [html.Th(str(row["id"]), scope="row")]
    for column in core[1:]:
        value = row[column]
        if column == "in_numerator":
            key = "drilldown.in" if value else "drilldown.out"
            cells.append(html.Td(translate(key, language), className="in" if value else "out"))
        elif column == "status":
            cells.append(html.Td(translate(f"drilldown.record_status.{value}", language)))
        elif column == "event_date":
            cells.append(html.Td(date_text(value, language)))
        elif column == "value":
            cells.append(
                html.Td(variable_text(variables.get(indicator.value or ""), value, language))
            )
        else:
            cells.append(html.Td(str(value)))
    cells += [html.Td(variable_text(variables.get(n), row[n], language)) for n in names]
    if editable:
        cells.append(
            html.Td(
                dcc.Link(
                    [
                        translate("drilldown.open", language),
                        html.Span(f" ({row['id']})", className="visually-hidden"),
                    ],
                    href=urls.registration_form(
                        registry.key, form, language, registration_id=int(row["id"])
                    ),
                )
            )
        )
    return html.Tr(cells, className="in-numerator" if row.get("in_numerator") else None)


def summary_text(
    found: DrillDown,
    indicator: Indicator,
    numerator: NumeratorFilter,
    statuses: StatusFilter,
    language: str,
) -> str:
    """How many records match, how many are in the numerator, how many are shown."""
    parts = [translate("drilldown.summary_total", language, n=found.total)]
    if found.numerator is not None and numerator == "all":
        parts.append(translate("drilldown.summary_numerator", language, n=found.numerator))
    if found.rows.height < found.total:
        first, last = found.offset + 1, found.offset + found.rows.height
        parts.append(translate("drilldown.summary_shown", language, first=first, last=last))
    if statuses != "finished":
        parts.append(translate("drilldown.summary_drafts", language))
    return " ".join(parts)


def page_position(found: DrillDown) -> tuple[int, int]:
    """The page `found` is (from 1) and how many pages of `PAGE_ROWS` the matching records
    fill (one, empty, when none match)."""
    return found.offset // PAGE_ROWS + 1, max(1, -(-found.total // PAGE_ROWS))
