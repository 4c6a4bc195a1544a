"""The registrar's list of registrations (issue 4): its query, its rows and its tables.

Everything the page shows is decided by the URL query (`ListQuery`), so a view is a
permalink. Rows come from `data_access.registrations.list_registrations`, which reads only
the caller's units and audits the read; period, status and unit are filtered in SQL. Which
required fields are missing is then worked out for all the rows at once by
`entry.completeness` (the rules of `check_values`, as polars expressions), and the "form"
and "missing" filters, the sort and the page are applied to that frame. At most
`MAX_LIST_ROWS` (the newest) are read per view; a unit holds about a thousand a year, and
the page says so when a view is cut short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

import polars as pl
from dash import dcc, html
from dash.development.base_component import Component

from data_access.access import AccessScope
from data_access.database import Database
from data_access.models import REGISTRATION_STATUSES
from data_access.registrations import MAX_LIST_ROWS, list_registrations
from data_access.snapshot import CORE_SCHEMA, column_types, typed_values
from entry.completeness import (
    MISSING_TOTAL,
    apply_form_logic,
    completeness,
    missing_column,
    missing_required,
)
from entry.registry_folder import RegistryFolder
from portal import urls
from portal.components.page_nav import page_nav
from portal.components.scroll_table import scroll_table
from portal.i18n import date_text, percent, translate

PAGE_SIZE = 50
SORTS = ("event_date", "id", "unit", "status", "missing")
MISSING_CHOICES = ("yes", "no")
_FAR_PAST = date(1900, 1, 1)
_FAR_FUTURE = date(9999, 12, 31)


@dataclass(frozen=True)
class ListQuery:
    """The filters, sort and page of one view; `None` is "no filter"."""

    year: int | None = None
    first_day: date | None = None
    last_day: date | None = None
    status: str | None = None
    unit: int | None = None
    form: str | None = None
    missing: str | None = None
    sort: str = "event_date"
    descending: bool = True
    page: int = 1

    def period(self) -> tuple[date, date] | None:
        """The inclusive period: the year and from/to together narrow each other."""
        start, end = self.first_day, self.last_day
        if self.year is not None:
            start = max(start or _FAR_PAST, date(self.year, 1, 1))
            end = min(end or _FAR_FUTURE, date(self.year, 12, 31))
        if start is None and end is None:
            return None
        return (start or _FAR_PAST, end or _FAR_FUTURE)

    def url_filters(self, **changes: object) -> dict[str, str | int | None]:
        """The query as URL parameters (defaults left out), with `changes` applied first."""
        query = replace(self, **changes) if changes else self  # type: ignore[arg-type]
        return {
            "year": query.year,
            "from": query.first_day.isoformat() if query.first_day else None,
            "to": query.last_day.isoformat() if query.last_day else None,
            "status": query.status,
            "unit": query.unit,
            "form": query.form,
            "missing": query.missing,
            "sort": None if query.sort == "event_date" else query.sort,
            "order": None if query.descending else "asc",
            "page": None if query.page == 1 else query.page,
        }


def parse_query(query: Mapping[str, object], forms: Sequence[str]) -> tuple[ListQuery, list[str]]:
    """The view a URL (or the filter fields) asks for, and the catalogue keys of what was
    not understood and so left out. Values are `object`: a forged request may send anything.
    """
    problems: list[str] = []

    def text(key: str) -> str:
        value = query.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        return "" if value is None else str(value).strip()

    def choice(key: str, allowed: Iterable[str]) -> str | None:
        value = text(key)
        if value and value not in allowed:
            problems.append(f"registrations.bad_{key}")
            return None
        return value or None

    year = _whole_number(text("year"), 1900, 9999)
    if text("year") and year is None:
        problems.append("registrations.bad_year")
    first_day, last_day = _day(text("from")), _day(text("to"))
    if text("from") and first_day is None:
        problems.append("registrations.bad_from")
    if text("to") and last_day is None:
        problems.append("registrations.bad_to")
    unit = _whole_number(text("unit"), 1, 2**63 - 1)
    if text("unit") and unit is None:
        problems.append("registrations.bad_unit")
    page = _whole_number(text("page"), 1, 10**6) or 1
    parsed = ListQuery(
        year=year,
        first_day=first_day,
        last_day=last_day,
        status=choice("status", REGISTRATION_STATUSES),
        unit=unit,
        form=choice("form", forms),
        missing=choice("missing", MISSING_CHOICES),
        sort=choice("sort", SORTS) or "event_date",
        descending=text("order") != "asc",
        page=page,
    )
    period = parsed.period()
    if period is not None and period[0] > period[1]:
        problems.append("registrations.bad_period")
    return parsed, problems


@dataclass(frozen=True)
class ListResult:
    """One view: the rows of its page, the counts behind it, and the completeness summary."""

    rows: pl.DataFrame
    matching: int
    read: int
    truncated: bool
    drafts: int
    missing_by_form: Mapping[str, int]
    summary: pl.DataFrame
    summary_form: str
    page: int
    pages: int


def read_list(
    database: Database,
    scope: AccessScope,
    registry: RegistryFolder,
    query: ListQuery,
    unit_ids: frozenset[int] | None,
    *,
    national_id_key: bytes,
    today: date,
    unit_names: Mapping[int, str],
) -> ListResult:
    """Read the caller's registrations for `query` (audited) and shape the view.

    `unit_ids` is the unit filter already expanded to the chosen unit's subtree (None: all
    the caller's units); ids outside the caller's scope simply find nothing.
    """
    dictionary = registry.dictionary
    forms = [f.key for f in registry.forms if f.key in dictionary.forms]
    listed = list_registrations(
        database,
        scope,
        registry.key,
        national_id_key=national_id_key,
        unit_ids=unit_ids,
        statuses=[query.status] if query.status else None,
        period=query.period(),
        limit=MAX_LIST_ROWS,
    )
    typed = typed_values(listed.select(*CORE_SCHEMA, "values"), column_types(dictionary))
    logic = apply_form_logic(typed.lazy(), dictionary, today=today).collect().lazy()
    missing_columns = [missing_column(form) for form in forms]
    judged = (
        missing_required(logic, dictionary, forms)
        .select("id", *missing_columns, MISSING_TOTAL)
        .collect()
    )
    summary_form = query.form or forms[0]
    frame = listed.select("id", "unit_id", "event_date", "status", "national_id_masked").join(
        judged, on="id", how="left"
    )
    counted = missing_column(query.form) if query.form else MISSING_TOTAL
    if query.missing == "yes":
        frame = frame.filter(pl.col(counted) > 0)
    elif query.missing == "no":
        frame = frame.filter(pl.col(counted) == 0)
    frame = _sorted(frame, query, counted, unit_names)
    pages = max(1, -(-frame.height // PAGE_SIZE))
    page = min(query.page, pages)
    return ListResult(
        rows=frame.slice((page - 1) * PAGE_SIZE, PAGE_SIZE),
        matching=frame.height,
        read=listed.height,
        truncated=listed.height >= MAX_LIST_ROWS,
        drafts=int((listed["status"] == "draft").sum()),
        missing_by_form={form: int((judged[missing_column(form)] > 0).sum()) for form in forms},
        summary=completeness(logic, dictionary, summary_form),
        summary_form=summary_form,
        page=page,
        pages=pages,
    )


def _sorted(
    frame: pl.DataFrame, query: ListQuery, counted: str, unit_names: Mapping[int, str]
) -> pl.DataFrame:
    """Sort by the chosen column; the registration id breaks ties the same way."""
    key: pl.Expr
    if query.sort == "unit":
        names = pl.DataFrame(
            {"unit_id": list(unit_names), "_unit_name": list(unit_names.values())},
            schema={"unit_id": pl.Int64, "_unit_name": pl.String},
        )
        frame = frame.join(names, on="unit_id", how="left")
        key = pl.col("_unit_name")
    elif query.sort == "status":
        key = pl.col("status").replace_strict(
            {s: n for n, s in enumerate(REGISTRATION_STATUSES)}, return_dtype=pl.Int64
        )
    elif query.sort == "missing":
        key = pl.col(counted)
    else:
        key = pl.col(query.sort)
    ordered = frame.sort([key, pl.col("id")], descending=query.descending, nulls_last=True)
    return ordered.drop("_unit_name", strict=False)


def subtree(units: pl.DataFrame, root: int) -> frozenset[int]:
    """`root` and every unit below it in the tree (`unit_id`, `parent_id`)."""
    children: dict[int, list[int]] = {}
    for unit_id, parent_id in units.select("unit_id", "parent_id").iter_rows():
        if parent_id is not None:
            children.setdefault(parent_id, []).append(unit_id)
    found, waiting = {root}, [root]
    while waiting:
        for child in children.get(waiting.pop(), []):
            if child not in found:
                found.add(child)
                waiting.append(child)
    return frozenset(found)


# ---- drawing ------------------------------------------------------------------------------

COLUMNS = ("id", "event_date", "unit", "patient", "status", "missing")


def registrations_table(
    result: ListResult,
    registry: RegistryFolder,
    query: ListQuery,
    language: str,
    unit_names: Mapping[int, str],
) -> html.Div:
    """The page's rows; each id links to its form, each form with missing fields too."""
    titles = {f.key: f.title.in_language(language) for f in registry.forms}
    forms = [f.key for f in registry.forms if f.key in registry.dictionary.forms]
    caption = translate(
        "registrations.caption",
        language,
        first=(result.page - 1) * PAGE_SIZE + (1 if result.matching else 0),
        last=(result.page - 1) * PAGE_SIZE + result.rows.height,
        n=result.matching,
    )
    body: list[Component] = []
    for row in result.rows.iter_rows(named=True):
        missing = {form: row[missing_column(form)] or 0 for form in forms}
        shown_forms = [query.form] if query.form else [f for f in forms if missing[f]]
        target = query.form or next((f for f in forms if missing[f]), forms[0])
        body.append(
            html.Tr(
                [
                    html.Th(
                        dcc.Link(
                            str(row["id"]),
                            href=urls.registration_form(
                                registry.key, target, language, registration_id=row["id"]
                            ),
                        ),
                        scope="row",
                    ),
                    html.Td(date_text(row["event_date"], language)),
                    html.Td(unit_names.get(row["unit_id"], str(row["unit_id"]))),
                    html.Td(row["national_id_masked"], className="masked-id"),
                    html.Td(translate(f"registrations.status.{row['status']}", language)),
                    html.Td(
                        _missing_cell(
                            registry.key, row["id"], shown_forms, missing, titles, language
                        )
                    ),
                ]
            )
        )
    if not body:
        body = [html.Tr(html.Td(translate("registrations.none", language), colSpan=len(COLUMNS)))]
    return scroll_table(
        "registrations-table",
        "admin-table registrations-table",
        caption,
        html.Tr([_header(c, registry.key, query, language) for c in COLUMNS]),
        body,
        caption_id="registrations-caption",
    )


def _header(column: str, registry_key: str, query: ListQuery, language: str) -> html.Th:
    text = translate(f"registrations.column.{column}", language)
    if column not in SORTS:
        return html.Th(text, scope="col")
    current = query.sort == column
    descending = not query.descending if current else column in ("event_date", "missing")
    href = urls.registrations(
        registry_key,
        language,
        **query.url_filters(sort=column, descending=descending, page=1),
    )
    sort_state = {}
    if current:
        sort_state = {"aria-sort": "descending" if query.descending else "ascending"}
    arrow = ("↓" if query.descending else "↑") if current else "↕"
    return html.Th(
        scope="col",
        **sort_state,
        children=dcc.Link(
            [text, " ", html.Span(arrow, **{"aria-hidden": "true"}, className="sort-arrow")],
            href=href,
            title=translate(
                "registrations.sort_descending" if descending else "registrations.sort_ascending",
                language,
            ),
        ),
    )


def _missing_cell(
    registry_key: str,
    registration_id: int,
    forms: list[str],
    missing: Mapping[str, int],
    titles: Mapping[str, str],
    language: str,
) -> Component | str:
    items = [
        html.Li(
            dcc.Link(
                translate("registrations.missing_in", language, form=titles[f], n=missing[f]),
                href=urls.registration_form(
                    registry_key, f, language, registration_id=registration_id
                ),
            )
        )
        for f in forms
        if missing[f]
    ]
    return (
        html.Ul(items, className="missing-list")
        if items
        else translate("registrations.missing_none", language)
    )


def pagination(result: ListResult, registry_key: str, query: ListQuery, language: str) -> html.Nav:
    def href(page: int) -> str:
        return urls.registrations(registry_key, language, **query.url_filters(page=page))

    return page_nav(result.page, result.pages, href, language)


def completeness_section(
    result: ListResult, registry: RegistryFolder, language: str
) -> list[Component]:
    """Datakompletthet: the share in draft, records missing required fields, and per variable
    of the chosen form the share holding a value where the form shows it."""
    titles = {f.key: f.title.in_language(language) for f in registry.forms}
    labels = {v.name: v.label.in_language(language) for v in registry.dictionary.variables}
    read = result.read
    facts = [
        html.Li(
            translate(
                "registrations.draft_share",
                language,
                share=percent(result.drafts / read, language) if read else "–",
                n=result.drafts,
                total=read,
            )
        ),
        *(
            html.Li(
                translate(
                    "registrations.missing_share",
                    language,
                    form=titles[form],
                    n=count,
                    total=read,
                )
            )
            for form, count in result.missing_by_form.items()
        ),
    ]
    rows = [
        html.Tr(
            [
                html.Th([labels[name], " ", html.Code(name)], scope="row"),
                html.Td(str(shown)),
                html.Td(str(with_value)),
                html.Td(percent(share, language, 1) if share is not None else "–"),
            ]
        )
        for name, shown, with_value, share in result.summary.iter_rows()
    ]
    caption = translate(
        "registrations.summary_caption",
        language,
        form=titles[result.summary_form],
        n=read,
    )
    table = scroll_table(
        "registrations-summary",
        "admin-table",
        caption,
        html.Tr(
            [
                html.Th(translate(f"registrations.summary.{c}", language), scope="col")
                for c in ("variable", "shown", "with_value", "share")
            ]
        ),
        rows,
        caption_id="registrations-summary-caption",
    )
    return [html.Ul(facts, id="registrations-facts"), table]


def _whole_number(text: str, low: int, high: int) -> int | None:
    if not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if low <= number <= high else None


def _day(text: str) -> date | None:
    """A day written as 2025-03-31 or as Norwegians do, 31.03.2025."""
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None
