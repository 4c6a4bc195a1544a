"""What an import found and did, as the import page shows it (from `ImportReport`).

The preview counts the good and bad rows and lists every problem of every bad row: the
spreadsheet's row number, the file's column, the field and the reason in the reader's
language, so the registrar can correct the file at the source. The result says what the
import created, updated, left unchanged and skipped. Nothing here reads or writes data.
"""

from __future__ import annotations

from dash import html
from dash.development.base_component import Component

from data_access.imports import ImportReport, RowProblem
from entry.dictionary_model import Dictionary
from entry.import_mapping import ImportMapping
from portal.components.scroll_table import scroll_table
from portal.i18n import translate

KEY_FIELDS = frozenset({"national_id", "source_key", "unit", "status"})
"""Fields of a row that are not dictionary variables: they have names of their own."""


def preview_view(
    report: ImportReport, mapping: ImportMapping, dictionary: Dictionary, language: str
) -> list[Component]:
    """The counts, what the import would do, and the table of every bad row's problems."""
    plan = translate(
        "import.plan", language, create=report.count("create"), update=report.count("update")
    )
    found: list[Component] = [html.P(counts_text(report, language)), html.P(plan)]
    if not report.problems:
        return [*found, html.P(translate("import.no_problems", language))]
    return [*found, problem_table(report.problems, mapping, dictionary, language)]


def counts_text(report: ImportReport, language: str) -> str:
    bad = len(report.bad_rows)
    return translate("import.counts", language, rows=report.rows, good=report.rows - bad, bad=bad)


def problem_table(
    problems: tuple[RowProblem, ...],
    mapping: ImportMapping,
    dictionary: Dictionary,
    language: str,
) -> Component:
    header = html.Tr(
        [
            html.Th(translate(f"import.{key}", language), scope="col")
            for key in ("row", "column", "field", "reason")
        ]
    )
    body = [
        html.Tr(
            [
                html.Th(str(problem.row), scope="row"),
                html.Td(_column(problem.field, mapping, language)),
                html.Td(field_name(problem.field, dictionary, language)),
                html.Td(problem.message.in_language(language)),
            ]
        )
        for problem in sorted(problems, key=lambda p: p.row)
    ]
    return scroll_table(
        "import-problems",
        "admin-table import-problems",
        translate("import.problems_caption", language),
        header,
        body,
        caption_id="import-problems-caption",
    )


def field_name(name: str, dictionary: Dictionary, language: str) -> str:
    """A variable's label, or the name of a key field, in the reader's language."""
    if name in KEY_FIELDS:
        return translate(f"import.field.{name}", language)
    try:
        return dictionary.variable(name).label.in_language(language)
    except KeyError:
        return name


def result_text(report: ImportReport, language: str) -> str:
    """What a written import did; what a refused all-or-nothing import did not."""
    if not report.written:
        return translate("import.nothing_imported", language, bad=len(report.bad_rows))
    return translate(
        "import.done",
        language,
        source=report.source,
        created=report.count("create"),
        updated=report.count("update"),
        unchanged=report.count("unchanged"),
        skipped=report.count("skipped"),
    )


def _column(name: str, mapping: ImportMapping, language: str) -> str:
    column = mapping.column_of(name)
    if column is not None:
        return column
    return translate("import.fixed_unit", language) if name == "unit" else "–"
