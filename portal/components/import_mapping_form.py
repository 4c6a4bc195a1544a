"""The import page's column mapping: the file's columns against the registry's variables.

The page shows one row per column of the uploaded file, with a field for the dictionary
variable it fills (a native `<datalist>` suggests the variable names, so the field is an
ordinary labelled text input that needs no script to be accessible), and fields for the
source's name and the columns of the national id, the row's key and (optionally) the unit.
What the fields hold is turned back into the mapping's YAML shape here, and then judged by
`entry.import_mapping.parse_mapping`, exactly as the command line's `--mapping` file is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dash import dcc, html
from dash._utils import stringify_id
from dash.development.base_component import Component

from entry.dictionary_model import Dictionary
from entry.import_mapping import ImportMapping
from entry.record_rules import INPUT_FREE_TYPES
from entry.registry_folder import RegistryFolder
from portal.components.scroll_table import scroll_table
from portal.i18n import translate

COLUMN = "import-column"  # pattern id {"type": COLUMN, "name": file column}: its variable
VARIABLE_LIST = "import-variables"
FILE_COLUMN_LIST = "import-file-columns"
MAX_COLUMNS = 500
"""A file with more columns is refused: the page draws a field for each."""


@dataclass(frozen=True)
class EditorValues:
    """What the mapping's fields show: from a saved mapping, or guessed from the file."""

    source: str = ""
    national_id: str = ""
    source_key: str = ""
    unit_column: str = ""
    columns: Mapping[str, str] = field(default_factory=dict)
    """File column → variable."""


def editor_values(
    columns: Sequence[str], dictionary: Dictionary, saved: ImportMapping | None
) -> EditorValues:
    """A saved mapping's choices for the columns the file has; without one, each column
    named like a variable (case aside) is taken to hold it."""
    if saved is not None:
        return EditorValues(
            source=saved.source,
            national_id=saved.national_id_column,
            source_key=saved.source_key_column,
            unit_column=saved.unit_column or "",
            columns={c: v for c, v in saved.columns.items() if c in columns},
        )
    names = {v.name.lower(): v.name for v in dictionary.variables if _takes_input(v.type)}
    return EditorValues(
        columns={c: names[c.strip().lower()] for c in columns if c.strip().lower() in names}
    )


def variable_list(registry: RegistryFolder, language: str) -> html.Datalist:
    """Every variable a file may fill, by name, with its label and form for the reader."""
    forms = {form.key: form.title.in_language(language) for form in registry.forms}
    return html.Datalist(
        id=VARIABLE_LIST,
        children=[
            html.Option(
                f"{v.label.in_language(language)} ({forms.get(v.form, v.form)})", value=v.name
            )
            for v in registry.dictionary.variables
            if _takes_input(v.type)
        ],
    )


def file_column_list(columns: Sequence[str]) -> html.Datalist:
    return html.Datalist(id=FILE_COLUMN_LIST, children=[html.Option(value=c) for c in columns])


def column_table(columns: Sequence[str], values: EditorValues, language: str) -> Component:
    """A row per file column: its name (the field's label, also the row's header) and the
    variable it fills. A pattern id's DOM id is its stringified form, which the label names."""
    rows = []
    for column in columns:
        identity = {"type": COLUMN, "name": column}
        rows.append(
            html.Tr(
                [
                    html.Th(html.Label(column, htmlFor=stringify_id(identity)), scope="row"),
                    html.Td(
                        dcc.Input(
                            id=identity,
                            type="text",
                            value=values.columns.get(column, ""),
                            list=VARIABLE_LIST,
                            autoComplete="off",
                        )
                    ),
                ]
            )
        )
    header = html.Tr(
        [
            html.Th(translate("import.column", language), scope="col"),
            html.Th(translate("import.variable", language), scope="col"),
        ]
    )
    return scroll_table(
        "import-columns-table",
        "admin-table import-columns",
        translate("import.columns_caption", language),
        header,
        rows,
        caption_id="import-columns-caption",
    )


def mapping_data(
    source: object,
    national_id: object,
    source_key: object,
    unit_column: object,
    unit_id: int | None,
    columns: Mapping[str, object],
) -> dict[str, object]:
    """The fields' values in the mapping's YAML shape, for `parse_mapping` to judge.

    Columns left without a variable are not imported; the unit is the named column, or the
    unit chosen on the page (None when neither, which `parse_mapping` names as a problem).
    """
    unit = _text(unit_column)
    return {
        "source": _text(source),
        "columns": {c: _text(v) for c, v in columns.items() if _text(v)},
        "national_id": _text(national_id),
        "source_key": _text(source_key),
        "unit": unit or unit_id,
    }


def _takes_input(kind: str) -> bool:
    return kind not in INPUT_FREE_TYPES


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
