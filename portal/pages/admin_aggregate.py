"""Aggregate upload (opplasting av indikatordata): check a file, verify, publish.

For registries that capture their data elsewhere. An admin of the whole registry uploads a
file in SKDE's format; it is checked at once (`portal.aggregate_requests.check_upload`),
every problem listed with its row, and a refused file changes nothing. A clean file is kept
unpublished and its results are shown as the public pages would show them, levels and
suppression included; only the publish button puts them there. The file itself is not kept:
a clean one lives on as its counts in the database, so the page's store holds only the
upload's number, and both callbacks ask the caller's scope again, whatever the store says.
The ids start with `aggregate-`, apart from the three user, grant and log pages.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import dash
import polars as pl
from dash import Input, Output, State, dcc, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from data_access.aggregate_uploads import UploadRefusedError, publish_upload
from data_access.audit import record_event
from entry.registry_folder import RegistryFolder
from portal import urls
from portal.aggregate_requests import check_upload, may_upload, problem_text, verify_frame
from portal.auth.guard import guarded_callback
from portal.auth.identity import current_actor, current_scope, database, now
from portal.catalogue import find_registry, installed_registries
from portal.components.admin_tables import (
    admin_menu,
    button,
    data_table,
    outcome,
    status_region,
)
from portal.components.login_prompt import login_prompt
from portal.components.shell import page_frame
from portal.i18n import normalise_language, percent, request_language, translate
from portal.import_requests import MAX_MEGABYTES, decoded_upload

PATH = "/admin/aggregate"
CONTEXT = "aggregate-context"  # a store: registry and language
UPLOAD = "aggregate-upload"
REPORT = "aggregate-report"
UPLOADED = "aggregate-uploaded"  # a store: the checked upload's number
PUBLISH = "aggregate-publish"
PUBLISH_AREA = "aggregate-publish-area"
PUBLISH_STATUS = "aggregate-publish-status"
MAX_SHOWN = 500
"""Rows of a report or verify table shown on the page; the command line prints them all."""

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path=PATH, title=lambda: translate("aggregate.title", request_language())
)


def layout(lang: str | None = None, registry: str | None = None, **_query: str) -> html.Div:
    language = normalise_language(lang)
    scope = current_scope()
    title = html.H1(translate("aggregate.title", language))
    if not scope.authenticated:
        return page_frame(language, PATH, [title, login_prompt(language, PATH)])
    allowed = [r for r in installed_registries() if may_upload(scope, r.key)]
    chosen = next((r for r in allowed if r.key == registry), allowed[0] if allowed else None)
    if chosen is None:
        refusal = html.P(translate("aggregate.not_allowed", language), id="aggregate-not-allowed")
        return page_frame(language, PATH, [title, refusal])
    content = [admin_menu(language, PATH, scope), title, *_content(chosen, allowed, language)]
    return page_frame(language, PATH, content, {"registry": chosen.key})


def _content(
    chosen: RegistryFolder, allowed: list[RegistryFolder], language: str
) -> list[Component]:
    t = partial(translate, language=language)
    menu = html.Nav(
        **{"aria-label": t("aggregate.registries")},
        className="registry-menu",
        children=html.Ul(
            [
                html.Li(
                    html.Span(r.name.in_language(language), **{"aria-current": "page"})
                    if r.key == chosen.key
                    else dcc.Link(
                        r.name.in_language(language),
                        href=urls.page_url(PATH, language, registry=r.key),
                    )
                )
                for r in allowed
            ]
        ),
    )
    return [
        dcc.Store(id=CONTEXT, data={"registry": chosen.key, "language": language}),
        dcc.Store(id=UPLOADED),
        menu,
        html.P(t("aggregate.intro")),
        html.P(t("aggregate.file_hint", size=MAX_MEGABYTES), id="aggregate-hint", className="hint"),
        dcc.Upload(
            id=UPLOAD,
            accept=".csv",
            children=html.Button(
                t("aggregate.choose_file"), type="button", **{"aria-describedby": "aggregate-hint"}
            ),
        ),
        status_region(REPORT),
        html.Div(
            id=PUBLISH_AREA,
            hidden=True,
            children=[button(PUBLISH, t("aggregate.publish")), status_region(PUBLISH_STATUS)],
        ),
    ]


def _caller(context: object) -> tuple[RegistryFolder, str] | None:
    """The store's registry and language when the caller is an admin of the whole registry;
    None, with the refusal in the audit log, otherwise."""
    data = context if isinstance(context, dict) else {}
    key = data.get("registry")
    folder = find_registry(key) if isinstance(key, str) and key else None
    if folder is None or not may_upload(current_scope(), folder.key):
        record_event(
            database(),
            "access.denied",
            current_actor(),
            details={"page": "aggregate", "requirement": "admin", "registry": str(key)[:64]},
        )
        return None
    return folder, normalise_language(data.get("language"))


def _refusal(context: object) -> html.P:
    language = context.get("language") if isinstance(context, dict) else None
    return outcome(translate("aggregate.not_allowed", normalise_language(language)), ok=False)


@guarded_callback(
    "admin",
    output={
        "report": Output(REPORT, "children"),
        "uploaded": Output(UPLOADED, "data"),
        "publish_hidden": Output(PUBLISH_AREA, "hidden"),
        "contents": Output(UPLOAD, "contents"),
    },
    inputs={
        "contents": Input(UPLOAD, "contents"),
        "filename": State(UPLOAD, "filename"),
        "context": State(CONTEXT, "data"),
    },
    prevent_initial_call=True,
)
def receive_file(contents: object, filename: object, context: object) -> dict[str, Any]:
    """Check the file at once: the report of its problems, or its results to verify."""
    if contents is None:
        raise PreventUpdate
    nothing = {"uploaded": None, "publish_hidden": True, "contents": None}
    caller = _caller(context)
    if caller is None:
        return nothing | {"report": _refusal(context)}
    folder, language = caller
    content, problem = decoded_upload(contents)
    if content is None:
        return nothing | {
            "report": outcome(translate(problem, language, size=MAX_MEGABYTES), ok=False)
        }
    name = Path(filename).name[:200] if isinstance(filename, str) else "upload.csv"
    checked = check_upload(database(), current_actor(), folder, name, content, now().year)
    if checked.upload is None:
        report = [
            outcome(
                translate(
                    "aggregate.refused_file",
                    language,
                    count=len(checked.problems),
                    rows=checked.rows,
                ),
                ok=False,
            ),
            _problem_table(checked.problems, language),
        ]
        return nothing | {"report": report}
    shown = verify_frame(database(), folder, checked.upload.id)
    report = [
        outcome(
            translate("aggregate.checked", language, rows=checked.rows, upload=checked.upload.id),
            ok=True,
        ),
        _verify_table(shown, folder, language),
    ]
    return {
        "report": report,
        "uploaded": checked.upload.id,
        "publish_hidden": False,
        "contents": None,
    }


@guarded_callback(
    "admin",
    output={"status": Output(PUBLISH_STATUS, "children")},
    inputs={
        "pressed": Input(PUBLISH, "n_clicks"),
        "uploaded": State(UPLOADED, "data"),
        "context": State(CONTEXT, "data"),
    },
    prevent_initial_call=True,
)
def publish(pressed: object, uploaded: object, context: object) -> dict[str, html.P]:
    """Publish the checked upload named in the store, if it is this registry's."""
    if not pressed:
        raise PreventUpdate
    return {"status": _published(uploaded, context)}


def _published(uploaded: object, context: object) -> html.P:
    caller = _caller(context)
    if caller is None:
        return _refusal(context)
    folder, language = caller
    if not isinstance(uploaded, int) or isinstance(uploaded, bool):
        reason = "no checked upload"
        return outcome(translate("aggregate.publish_refused", language, reason=reason), ok=False)
    try:
        publish_upload(database(), current_actor(), folder.key, uploaded)
    except UploadRefusedError as error:
        return outcome(
            translate("aggregate.publish_refused", language, reason=str(error)), ok=False
        )
    return outcome(translate("aggregate.published", language, upload=uploaded), ok=True)


def _problem_table(problems: tuple[Any, ...], language: str) -> html.Div:
    file_row = translate("aggregate.file_row", language)
    rows = [
        (file_row if p.row is None else p.row, problem_text(p, language))
        for p in problems[:MAX_SHOWN]
    ]
    return data_table(
        "aggregate-problems",
        translate("aggregate.problems_caption", language, n=len(problems)),
        [translate(f"aggregate.column.{c}", language) for c in ("row", "reason")],
        rows,
        translate("aggregate.none", language),
    )


def _verify_table(shown: pl.DataFrame, folder: RegistryFolder, language: str) -> html.Div:
    titles = {i.key: i.title.in_language(language) for i in folder.indicators}
    rows = [
        (
            f"{row['name']} ({row['unit_id']})",
            titles.get(row["indicator"], row["indicator"]),
            row["period"],
            row["numerator"],
            row["denominator"],
            _share(row, language),
            translate(f"achievement.{row['achievement'] or 'none'}", language),
        )
        for row in shown.head(MAX_SHOWN).iter_rows(named=True)
    ]
    columns = ("unit", "indicator", "year", "numerator", "denominator", "estimate", "achievement")
    return data_table(
        "aggregate-verify",
        translate("aggregate.verify_caption", language, n=shown.height),
        [translate(f"aggregate.column.{c}", language) for c in columns],
        rows,
        translate("aggregate.none", language),
    )


def _share(row: dict[str, Any], language: str) -> str:
    if row["suppressed"]:
        return translate("aggregate.suppressed", language, note=row["note"])
    shares = [percent(row[c], language, 1) for c in ("estimate", "lower", "upper")]
    return f"{shares[0]} ({shares[1]}–{shares[2]})"
