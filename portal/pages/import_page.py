"""Import from file (filimport): a registrar's CSV or Excel file, previewed, then imported.

The page is the command line's `flask import` in a browser, on the same functions: the file
is read by `entry.import_mapping.read_table`, its columns mapped by a mapping that
`parse_mapping` judges (and `save_mapping` keeps per source), and the rows checked and
written by `data_access.imports.import_rows`, which audits each record and the run. First
a preview that writes nothing and lists every bad row, field and reason; then the registrar
chooses "only the valid rows" or "all or nothing" and confirms.

Only registrars may import. An admin must hold the registrar role too: importing writes
patient records, which an admin as such may not even read. The page and every callback
ask the caller's scope (`portal.import_requests`), since everything in the page's stores
is only the browser's word. The uploaded file never goes back to the browser: it is kept
encrypted for this login session alone (`portal.import_uploads`) and deleted once imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from data_access.imports import ImportReport
from entry.import_mapping import (
    ImportFileError,
    ImportMapping,
    parse_mapping,
    read_table,
    save_mapping,
    saved_mapping,
)
from portal.auth.guard import guarded_callback
from portal.auth.identity import current_scope, settings
from portal.catalogue import installed_registries
from portal.commands.import_file import mappings_directory
from portal.components import import_layout as ids
from portal.components.admin_tables import outcome
from portal.components.import_layout import import_content, registry_menu, saved_options
from portal.components.import_mapping_form import (
    COLUMN,
    MAX_COLUMNS,
    column_table,
    editor_values,
    file_column_list,
)
from portal.components.import_report import counts_text, preview_view, result_text
from portal.components.login_prompt import login_prompt
from portal.components.shell import page_frame
from portal.form_requests import named_values
from portal.i18n import normalise_language, request_language, translate
from portal.import_requests import (
    MAX_MEGABYTES,
    MODES,
    decoded_upload,
    importer,
    page_mapping,
    record_status,
    refused,
    run_import,
    upload_columns,
)
from portal.import_uploads import discard_upload, keep_upload

PATH = "/import"

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path=PATH, title=lambda: translate("import.title", request_language())
)


def layout(lang: str | None = None, registry: str | None = None, **_query: str) -> html.Div:
    language = normalise_language(lang)
    scope = current_scope()
    title = html.H1(translate("import.title", language))
    if not scope.authenticated:
        return page_frame(language, PATH, [title, login_prompt(language, PATH)])
    allowed = [r for r in installed_registries() if scope.units(r.key, "registrar")]
    if registry:
        chosen = next((r for r in allowed if r.key == registry), None)
    else:
        chosen = allowed[0] if allowed else None
    if chosen is None:
        key = "import.no_registry" if registry and allowed else "import.not_allowed"
        refusal = html.P(
            translate(key, language, registry=registry or ""),
            id="import-not-allowed",
            className="message",
        )
        return page_frame(language, PATH, [title, refusal, registry_menu(allowed, language)])
    content = [title, *import_content(chosen, scope, allowed, language)]
    return page_frame(language, PATH, content, {"registry": chosen.key})


# ---- 1. the file ---------------------------------------------------------------------------


@guarded_callback(
    "authenticated",
    output={
        "uploaded": Output(ids.UPLOADED, "data"),
        "contents": Output(ids.UPLOAD, "contents"),
        "status": Output(ids.UPLOAD_STATUS, "children"),
    },
    inputs={
        "contents": Input(ids.UPLOAD, "contents"),
        "filename": State(ids.UPLOAD, "filename"),
        "context": State(ids.CONTEXT, "data"),
        "previous": State(ids.UPLOADED, "data"),
    },
    prevent_initial_call=True,
)
def receive_upload(
    contents: object, filename: object, context: object, previous: object
) -> dict[str, Any]:
    """Keep the file on the server; the page gets only its columns and a token for it.

    The upload's contents are emptied at once, so the browser does not keep the file
    either, and choosing the same file again is a new upload. A new file replaces the
    session's previous one.
    """
    if contents is None:
        raise PreventUpdate
    caller = importer(context)
    if caller is None:
        return {"uploaded": None, "contents": None, "status": refused(context)}
    if isinstance(previous, dict):
        discard_upload(settings(), caller.session_id, previous.get("token"))
    name = Path(filename).name[:200] if isinstance(filename, str) else "upload.csv"
    content, problem = decoded_upload(contents)
    if content is None:
        refusal = caller.message(problem, ok=False, size=MAX_MEGABYTES)
        return {"uploaded": None, "contents": None, "status": refusal}
    try:
        frame = read_table(content, name)
        if frame.width > MAX_COLUMNS:
            raise ImportFileError([f"more than {MAX_COLUMNS} columns"])
    except ImportFileError as error:
        unusable = caller.problems("import.file_unusable", error.problems)
        return {"uploaded": None, "contents": None, "status": unusable}
    token = keep_upload(settings(), caller.session_id, name, content)
    return {
        "uploaded": {"token": token, "filename": name, "columns": frame.columns},
        "contents": None,
        "status": caller.message(
            "import.uploaded", ok=True, filename=name, rows=frame.height, columns=frame.width
        ),
    }


# ---- 2. the mapping ------------------------------------------------------------------------

DRAW_OUTPUTS = {
    "hidden": Output(ids.MAPPING, "hidden"),
    "columns": Output(ids.COLUMNS, "children"),
    "file_columns": Output(ids.FILE_COLUMNS, "children"),
    "source": Output(ids.SOURCE, "value"),
    "national_id": Output(ids.NATIONAL_ID, "value"),
    "source_key": Output(ids.SOURCE_KEY, "value"),
    "unit_column": Output(ids.UNIT_COLUMN, "value"),
    "status": Output(ids.MAPPING_STATUS, "children"),
    "preview": Output(ids.PREVIEW_AREA, "children", allow_duplicate=True),
    "previewed": Output(ids.PREVIEWED, "data", allow_duplicate=True),
    "confirm_hidden": Output(ids.CONFIRM_AREA, "hidden", allow_duplicate=True),
}


@guarded_callback(
    "authenticated",
    output=DRAW_OUTPUTS,
    inputs={
        "uploaded": Input(ids.UPLOADED, "data"),
        "saved": Input(ids.SAVED, "value"),
        "context": State(ids.CONTEXT, "data"),
    },
    prevent_initial_call=True,
)
def draw_mapping(uploaded: object, saved: object, context: object) -> dict[str, Any]:
    """The mapping's fields for the file's columns, filled from the chosen saved mapping.

    A new file or another mapping makes an earlier preview void, so it is cleared.
    """
    unchanged = dict.fromkeys(DRAW_OUTPUTS, no_update)
    caller = importer(context)
    if caller is None:
        return {**unchanged, "status": refused(context)}
    folder = caller.registry
    columns = upload_columns(uploaded)
    cleared = {
        "preview": html.P(translate("import.preview_empty", caller.language)),
        "previewed": None,
        "confirm_hidden": True,
    }
    if columns is None:
        return {**unchanged, **cleared, "hidden": True, "columns": []}
    found, status = None, None
    if isinstance(saved, str) and saved != ids.NEW_MAPPING:
        try:
            found = saved_mapping(mappings_directory(), folder.key, saved, folder.dictionary)
        except ImportFileError as error:
            status = caller.problems("import.mapping_unusable", error.problems)
    values = editor_values(columns, folder.dictionary, found)
    return {
        **cleared,
        "hidden": False,
        "columns": column_table(columns, values, caller.language),
        "file_columns": file_column_list(columns),
        "source": values.source,
        "national_id": values.national_id,
        "source_key": values.source_key,
        "unit_column": values.unit_column,
        "status": status,
    }


MAPPING_FIELDS = {
    "unit": State(ids.UNIT, "value"),
    "source": State(ids.SOURCE, "value"),
    "national_id": State(ids.NATIONAL_ID, "value"),
    "source_key": State(ids.SOURCE_KEY, "value"),
    "unit_column": State(ids.UNIT_COLUMN, "value"),
}
COLUMN_FIELDS = State({"type": COLUMN, "name": ALL}, "value")


def _column_values() -> dict[str, object]:
    """Each file column's variable field, by the column named in its pattern id."""
    grouping = ctx.args_grouping if isinstance(ctx.args_grouping, dict) else {}
    return named_values(grouping.get("columns"))


@guarded_callback(
    "authenticated",
    output={
        "saved": Output(ids.SAVED, "options"),
        "status": Output(ids.MAPPING_STATUS, "children", allow_duplicate=True),
    },
    inputs={
        "pressed": Input(ids.SAVE, "n_clicks"),
        "context": State(ids.CONTEXT, "data"),
        "fields": MAPPING_FIELDS,
        "columns": COLUMN_FIELDS,
    },
    prevent_initial_call=True,
)
def save_source_mapping(
    pressed: object, context: object, fields: dict[str, object], columns: object
) -> dict[str, Any]:
    """Save the mapping for its source, as `flask import --mapping` does."""
    if not pressed:
        raise PreventUpdate
    caller = importer(context)
    if caller is None:
        return {"status": refused(context), "saved": no_update}
    mapping = page_mapping(caller, fields, _column_values())
    if not isinstance(mapping, ImportMapping):
        return {"status": mapping, "saved": no_update}
    save_mapping(mappings_directory(), caller.registry.key, mapping)
    return {
        "status": caller.message("import.mapping_saved", ok=True, source=mapping.source),
        "saved": saved_options(caller.registry, caller.language),
    }


# ---- 3. preview and import -----------------------------------------------------------------


@guarded_callback(
    "authenticated",
    output={
        "preview": Output(ids.PREVIEW_AREA, "children"),
        "previewed": Output(ids.PREVIEWED, "data"),
        "confirm_hidden": Output(ids.CONFIRM_AREA, "hidden"),
        "result": Output(ids.RESULT, "children"),
        "status": Output(ids.MAPPING_STATUS, "children", allow_duplicate=True),
    },
    inputs={
        "pressed": Input(ids.PREVIEW, "n_clicks"),
        "context": State(ids.CONTEXT, "data"),
        "uploaded": State(ids.UPLOADED, "data"),
        "record": State(ids.STATUS, "value"),
        "fields": MAPPING_FIELDS,
        "columns": COLUMN_FIELDS,
    },
    prevent_initial_call=True,
)
def preview(
    pressed: object,
    context: object,
    uploaded: object,
    record: object,
    fields: dict[str, object],
    columns: object,
) -> dict[str, Any]:
    """Check every row as the import would, and write nothing. The counts are announced
    next to the button; the rows with problems are listed below."""
    if not pressed:
        raise PreventUpdate
    nothing: dict[str, Any] = {"previewed": None, "confirm_hidden": True, "result": ""}
    caller = importer(context)
    if caller is None:
        return {**nothing, "preview": no_update, "status": refused(context)}
    nothing["preview"] = html.P(translate("import.preview_empty", caller.language))
    mapping = page_mapping(caller, fields, _column_values())
    if not isinstance(mapping, ImportMapping):
        return {**nothing, "status": mapping}
    token = uploaded.get("token") if isinstance(uploaded, dict) else None
    report = run_import(caller, token, mapping, "preview", record)
    if not isinstance(report, ImportReport):
        return {**nothing, "status": report}
    view = preview_view(report, mapping, caller.registry.dictionary, caller.language)
    return {
        "status": outcome(counts_text(report, caller.language), ok=True),
        "preview": view,
        "previewed": {
            "token": token,
            "mapping": mapping.as_mapping(),
            "status": record_status(record),
        },
        "confirm_hidden": report.rows == len(report.bad_rows),
        "result": "",
    }


@guarded_callback(
    "authenticated",
    output={
        "result": Output(ids.RESULT, "children", allow_duplicate=True),
        "uploaded": Output(ids.UPLOADED, "data", allow_duplicate=True),
        "upload_status": Output(ids.UPLOAD_STATUS, "children", allow_duplicate=True),
    },
    inputs={
        "pressed": Input(ids.CONFIRM, "n_clicks"),
        "context": State(ids.CONTEXT, "data"),
        "previewed": State(ids.PREVIEWED, "data"),
        "mode": State(ids.MODE, "value"),
    },
    prevent_initial_call=True,
)
def confirm_import(
    pressed: object, context: object, previewed: object, mode: object
) -> dict[str, Any]:
    """Import exactly what was previewed, in the chosen mode, checked all over again; the
    file is deleted once imported (an all-or-nothing import that wrote nothing keeps it)."""
    if not pressed:
        raise PreventUpdate
    unchanged = {"uploaded": no_update, "upload_status": no_update}
    caller = importer(context)
    if caller is None:
        return {**unchanged, "result": refused(context)}
    chosen = next((m for m in MODES if m == mode), None)
    if chosen is None:
        return {**unchanged, "result": caller.message("import.choose_mode", ok=False)}
    plan = previewed if isinstance(previewed, dict) else {}
    try:
        mapping = parse_mapping(plan.get("mapping"), caller.registry.dictionary)
    except ImportFileError:
        return {**unchanged, "result": caller.message("import.need_preview", ok=False)}
    report = run_import(caller, plan.get("token"), mapping, chosen, plan.get("status"))
    if not isinstance(report, ImportReport):
        return {**unchanged, "result": report}
    message = outcome(result_text(report, caller.language), ok=report.written)
    if not report.written:
        return {**unchanged, "result": message}
    discard_upload(settings(), caller.session_id, plan.get("token"))
    return {"result": message, "uploaded": None, "upload_status": ""}
