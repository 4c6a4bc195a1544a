"""The pieces the admin pages share: the refusal, tables, labelled fields and live messages.

The three admin pages (users, grants, audit log) are built from these, so every table has a
caption and column headers with a scope, every field its own <label>, every group of
fields a <fieldset> with a <legend>, and every result of a button is announced through a
polite live region, the same way on each page.

There is no <form> element: Dash's `html.Form` does not stop the browser's own submission,
which would reload the page and could put a typed password in the address bar. Each group
of fields is a <fieldset>; its button is an ordinary button, and Enter in a text field
submits through the field's `n_submit`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from dash import dcc, html
from dash.development.base_component import Component

from data_access.access import AccessScope
from data_access.accounts import AccountError
from portal import urls
from portal.auth.guard import Requirement, satisfies
from portal.components.login_prompt import login_prompt
from portal.components.shell import page_frame
from portal.i18n import translate

# Registries are Norwegian, so are their administrators' clocks: times are shown in Oslo
# time (the CSV export keeps UTC, for machines).
LOCAL_TIME = ZoneInfo("Europe/Oslo")

# path, title key, requirement: the admin pages in the order the admin menu lists them.
ADMIN_PAGES: tuple[tuple[str, str, Requirement], ...] = (
    ("/admin/users", "admin.users.title", "installation_admin"),
    ("/admin/grants", "admin.grants.title", "admin"),
    ("/admin/audit", "admin.audit.title", "installation_admin"),
    # Uploads replace a registry's numbers for every unit: admins of the whole registry
    # (portal/aggregate_requests.may_upload checks the registry itself).
    ("/admin/aggregate", "aggregate.title", "installation_admin"),
)

Cell = Component | str | int | None


def admin_page(
    language: str,
    path: str,
    requirement: Requirement,
    scope: AccessScope,
    content: Callable[[], list[Component]],
) -> html.Div:
    """The page's content when `scope` meets `requirement`, else a login prompt or a refusal.

    `content` is called only once access is settled, so nothing is read from the database
    for a visitor who may not see it.
    """
    title = next(translate(key, language) for page, key, _ in ADMIN_PAGES if page == path)
    if not satisfies(scope, requirement):
        refusal: Component = (
            login_prompt(language, path)
            if not scope.authenticated
            else html.P(translate("admin.not_allowed", language), id="admin-not-allowed")
        )
        return page_frame(language, path, [html.H1(title), refusal])
    return page_frame(
        language, path, [admin_menu(language, path, scope), html.H1(title), *content()]
    )


def admin_menu(language: str, path: str, scope: AccessScope) -> html.Nav:
    """Links to the admin pages this user may open; the current one is marked, not linked."""
    items = []
    for page, key, requirement in ADMIN_PAGES:
        if not satisfies(scope, requirement):
            continue
        text = translate(key, language)
        entry: Component = (
            html.Span(text, **{"aria-current": "page"})
            if page == path
            else dcc.Link(text, href=urls.page_url(page, language))
        )
        items.append(html.Li(entry))
    return html.Nav(
        **{"aria-label": translate("admin.menu", language)},
        className="admin-menu",
        children=html.Ul(items),
    )


def section(name: str, heading: str, children: list[Component]) -> html.Section:
    """A part of a page under its <h2> (id `name`-heading), which names the region."""
    heading_id = f"{name}-heading"
    return html.Section(
        **{"aria-labelledby": heading_id},
        children=[html.H2(heading, id=heading_id), *children],
    )


def fieldset(legend: str, children: list[Component]) -> html.Fieldset:
    """Fields that belong together under a legend, which is read with each of them."""
    return html.Fieldset(className="portal-form", children=[html.Legend(legend), *children])


def data_table(
    table_id: str,
    caption: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    empty_text: str,
) -> html.Div:
    """A captioned table in a scrollable region that keyboard users can scroll too.

    The first cell of each row is its row header (`<th scope="row">`), so a screen reader
    names the row (the user, the grant, the event) when moving along it.
    """
    body_rows = [
        html.Tr([html.Th(_cell(row[0]), scope="row"), *[html.Td(_cell(c)) for c in row[1:]]])
        for row in rows
    ]
    if not body_rows:
        body_rows = [html.Tr(html.Td(empty_text, colSpan=len(headers)))]
    caption_id = f"{table_id}-caption"
    return html.Div(
        role="region",
        tabIndex="0",
        className="table-scroll",
        style={"overflowX": "auto"},
        **{"aria-labelledby": caption_id},
        children=html.Table(
            id=table_id,
            className="admin-table",
            children=[
                html.Caption(caption, id=caption_id),
                html.Thead(html.Tr([html.Th(header, scope="col") for header in headers])),
                html.Tbody(body_rows),
            ],
        ),
    )


def text_field(
    field_id: str,
    label: str,
    *,
    kind: str = "text",
    value: str | None = None,
    autocomplete: str = "off",
    hint: str | None = None,
    suggestions: str | None = None,
) -> html.Div:
    """A labelled input; a hint goes inside the label, so it is read with the field's name.

    `suggestions` is the id of an `html.Datalist` offering values (user names, actions),
    which the browser shows as a native, accessible list.
    """
    label_children: list[Component | str] = [label]
    if hint:
        label_children += [" ", html.Span(f"({hint})", className="hint")]
    extra = {"list": suggestions} if suggestions else {}
    return html.Div(
        className="field",
        children=[
            html.Label(label_children, htmlFor=field_id),
            dcc.Input(
                id=field_id,
                type=kind,
                value=value or "",
                autoComplete=autocomplete,
                n_submit=0,
                **extra,
            ),
        ],
    )


def suggestions(list_id: str, values: Sequence[str]) -> html.Datalist:
    return html.Datalist(id=list_id, children=[html.Option(value=v) for v in values])


def button(button_id: str | dict[str, object], text: str, **aria: str) -> html.Button:
    """A plain button (never `type=submit`, see the module docstring)."""
    return html.Button(text, id=button_id, type="button", n_clicks=0, **aria)


def status_region(region_id: str) -> html.Div:
    """Where a button's outcome appears; polite, so it is read without stealing focus."""
    return html.Div(
        id=region_id, role="status", className="admin-status", **{"aria-live": "polite"}
    )


def outcome(text: str, *, ok: bool) -> html.P:
    """One message for a status region: a confirmation or a refusal."""
    return html.P(text, className="confirmation" if ok else "message")


def as_text(value: object) -> str:
    """A field's value as text, whatever a (possibly forged) request put there."""
    return "" if value is None else str(value)


def local_time(moment: datetime | None) -> str:
    """A stored UTC moment as Oslo wall-clock time, to the second; a dash when there is none."""
    if moment is None:
        return "–"
    return moment.astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M:%S")


def yes_no(value: bool | None, language: str) -> str:
    return translate("admin.yes" if value else "admin.no", language)


def _cell(value: Cell) -> Cell:
    return "–" if value is None or value == "" else value


def account_problem(error: AccountError, language: str) -> str:
    """A refused account command in the reader's language, each password problem named."""
    text = translate(f"admin.error.{error.code}", language)
    if error.problems:
        reasons = "; ".join(translate(f"admin.password.{p}", language) for p in error.problems)
        text = f"{text} {reasons}."
    return text
