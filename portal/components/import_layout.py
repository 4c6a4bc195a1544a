"""The import page's parts, in the order a registrar uses them: file, mapping, preview.

1. the unit the rows go to, the status of new records and the file: a real button inside
   `dcc.Upload` opens the file chooser (a keyboard user presses it like any button; a file
   may also be dropped on it);
2. the column mapping, shown once a file is in: a saved mapping per source, the source's
   name, the key columns and the file's columns against the registry's variables;
3. the preview, then the choice between only the valid rows and all or nothing, and the
   confirmation.

Every result of a button appears in a polite live region next to it. The ids are here, so
the page's callbacks and the tests name the same components.
"""

from __future__ import annotations

from collections.abc import Sequence

from dash import dcc, html
from dash.development.base_component import Component

from data_access.access import AccessScope
from entry.import_mapping import saved_sources
from entry.registry_folder import RegistryFolder
from portal import urls
from portal.commands.import_file import mappings_directory
from portal.components.admin_tables import button, section, status_region, text_field
from portal.components.form_layout import unit_names
from portal.components.import_mapping_form import FILE_COLUMN_LIST, variable_list
from portal.components.result_filters import choice_group
from portal.i18n import translate
from portal.import_requests import MAX_MEGABYTES, MODES

NEW_MAPPING = "-"  # never a source name, which starts with a letter or a digit

CONTEXT = "import-context"  # store: the registry and the page's language
UPLOADED = "import-uploaded"  # store: the kept file's token, name and columns
PREVIEWED = "import-previewed"  # store: what the last preview checked (token, mapping, status)
UNIT = "import-unit"
STATUS = "import-record-status"
UPLOAD = "import-upload"
CHOOSE_FILE = "import-choose-file"
UPLOAD_HINT = "import-file-hint"
UPLOAD_STATUS = "import-upload-status"
MAPPING = "import-mapping"
SAVED = "import-saved"
SOURCE = "import-source"
NATIONAL_ID = "import-national-id-column"
SOURCE_KEY = "import-source-key-column"
UNIT_COLUMN = "import-unit-column"
COLUMNS = "import-columns"
FILE_COLUMNS = "import-file-columns-holder"
PREVIEW = "import-preview"
SAVE = "import-save"
MAPPING_STATUS = "import-mapping-status"
PREVIEW_AREA = "import-preview-area"
CONFIRM_AREA = "import-confirm-area"
MODE = "import-mode"
CONFIRM = "import-confirm"
RESULT = "import-result"


def import_content(
    registry: RegistryFolder, scope: AccessScope, allowed: Sequence[RegistryFolder], language: str
) -> list[Component]:
    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    return [
        html.P(t("import.intro"), className="lead"),
        dcc.Store(id=CONTEXT, data={"registry": registry.key, "language": language}),
        dcc.Store(id=UPLOADED),
        dcc.Store(id=PREVIEWED),
        registry_menu(allowed, language, registry.key),
        section("import-file", t("import.file_section"), _file(registry, scope, language)),
        html.Div(
            id=MAPPING,
            hidden=True,
            children=section(
                "import-mapping-section", t("import.mapping_section"), _mapping(registry, language)
            ),
        ),
        section(
            "import-run",
            t("import.preview_section"),
            [
                html.Div(id=PREVIEW_AREA, children=html.P(t("import.preview_empty"))),
                html.Div(
                    id=CONFIRM_AREA,
                    hidden=True,
                    children=[
                        choice_group(
                            MODE,
                            t("import.mode"),
                            [{"label": t(f"import.mode.{m}"), "value": m} for m in MODES],
                            None,
                        ),
                        button(CONFIRM, t("import.confirm")),
                    ],
                ),
                status_region(RESULT),
            ],
        ),
    ]


def _file(registry: RegistryFolder, scope: AccessScope, language: str) -> list[Component]:
    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    names = unit_names()
    units = sorted(scope.units(registry.key, "registrar"), key=lambda u: names.get(u, str(u)))
    return [
        choice_group(
            UNIT,
            t("import.unit"),
            [{"label": names.get(u, str(u)), "value": u} for u in units],
            units[0] if len(units) == 1 else None,
        ),
        choice_group(
            STATUS,
            t("import.status"),
            [{"label": t(f"import.status.{s}"), "value": s} for s in ("draft", "complete")],
            "draft",
        ),
        html.P(t("import.file_hint", size=MAX_MEGABYTES), id=UPLOAD_HINT, className="hint"),
        dcc.Upload(
            id=UPLOAD,
            className="import-upload",
            accept=".csv,.xlsx,.xlsm",
            children=html.Button(
                t("import.choose_file"),
                id=CHOOSE_FILE,
                type="button",
                **{"aria-describedby": UPLOAD_HINT},
            ),
        ),
        status_region(UPLOAD_STATUS),
    ]


def _mapping(registry: RegistryFolder, language: str) -> list[Component]:
    def t(key: str) -> str:
        return translate(key, language)

    return [
        html.P(t("import.mapping_intro")),
        choice_group(SAVED, t("import.saved"), saved_options(registry, language), NEW_MAPPING),
        text_field(SOURCE, t("import.source"), hint=t("import.source_hint")),
        text_field(NATIONAL_ID, t("import.national_id_column"), suggestions=FILE_COLUMN_LIST),
        text_field(
            SOURCE_KEY,
            t("import.source_key_column"),
            hint=t("import.source_key_hint"),
            suggestions=FILE_COLUMN_LIST,
        ),
        text_field(
            UNIT_COLUMN,
            t("import.unit_column"),
            hint=t("import.unit_column_hint"),
            suggestions=FILE_COLUMN_LIST,
        ),
        html.Div(id=COLUMNS),
        html.Div(id=FILE_COLUMNS),
        variable_list(registry, language),
        html.Div(
            className="import-actions",
            children=[button(PREVIEW, t("import.preview")), button(SAVE, t("import.save_mapping"))],
        ),
        status_region(MAPPING_STATUS),
    ]


def saved_options(registry: RegistryFolder, language: str) -> list[dict[str, str]]:
    """ "New mapping", then each source with a mapping saved for the registry."""
    sources = saved_sources(mappings_directory(), registry.key)
    return [{"label": translate("import.saved.new", language), "value": NEW_MAPPING}] + [
        {"label": source, "value": source} for source in sources
    ]


def registry_menu(
    registries: Sequence[RegistryFolder], language: str, current: str | None = None
) -> Component:
    """Links to the page for each registry the user may import into (none for just one)."""
    if len(registries) < 2 and current is not None:
        return html.Div()
    items = [
        html.Li(
            html.Span(r.name.in_language(language), **{"aria-current": "page"})
            if r.key == current
            else dcc.Link(r.name.in_language(language), href=urls.import_file(r.key, language))
        )
        for r in registries
    ]
    return html.Nav(
        **{"aria-label": translate("import.registries", language)},
        className="registry-menu",
        children=html.Ul(items),
    )
