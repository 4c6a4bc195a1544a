"""The codebook as files: our dictionary CSV, an Excel codebook, and REDCap's data dictionary.

Plain Flask routes rather than Dash callbacks, so a link is a permanent address that a
researcher can share or fetch with a script. The dictionary is public by design (it holds no
patient data), hence `public`; an unknown registry is a 404.
"""

from __future__ import annotations

import io

import flask
import xlsxwriter

from entry.redcap import export_redcap
from entry.registry_folder import RegistryFolder
from portal.auth.guard import route_access
from portal.catalogue import dictionary_file, find_registry
from portal.components.codebook_facts import registry_facts
from portal.i18n import normalise_language, translate

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_COLUMNS = (
    "variable", "form", "label", "type", "choices", "unit", "bounds", "required",
    "shown_when", "shown_when_expression", "validations", "indicators",
)  # fmt: skip

blueprint = flask.Blueprint("codebook_downloads", __name__)


@blueprint.get("/codebook/<string:filename>")
@route_access("public")
def download(filename: str) -> flask.Response:
    """`<key>.csv`, `<key>.xlsx` or `<key>-redcap.csv`; texts in the `?lang=` language."""
    language = normalise_language(flask.request.args.get("lang"))
    for suffix, build in (("-redcap.csv", _redcap), (".csv", _csv), (".xlsx", _xlsx)):
        if filename.endswith(suffix):
            registry = _registry(filename.removesuffix(suffix))
            body, mimetype = build(registry, language)
            response = flask.Response(body, mimetype=mimetype)
            response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
    flask.abort(404)


def _registry(key: str) -> RegistryFolder:
    registry = find_registry(key) if key else None
    if registry is None:
        flask.abort(404)
    return registry


def _csv(registry: RegistryFolder, _language: str) -> tuple[bytes, str]:
    """The registry's own dictionary.csv, byte for byte: what the version hash is taken of."""
    return dictionary_file(registry), CSV_TYPE


def _redcap(registry: RegistryFolder, language: str) -> tuple[bytes, str]:
    return export_redcap(registry.dictionary, language).text.encode("utf-8"), CSV_TYPE


def _xlsx(registry: RegistryFolder, language: str) -> tuple[bytes, str]:
    """One sheet, one row per variable, the same facts as the page; header bold and frozen."""
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"in_memory": True})
    sheet = workbook.add_worksheet(translate("codebook.title", language))
    bold = workbook.add_format({"bold": True})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    for column, key in enumerate(XLSX_COLUMNS):
        sheet.write(0, column, translate(f"codebook.column.{key}", language), bold)
    forms = {form.key: form.title.in_language(language) for form in registry.forms}
    for row, facts in enumerate(registry_facts(registry, language), start=1):
        values = {
            **{key: getattr(facts, key, "") for key in XLSX_COLUMNS},
            "variable": facts.name,
            "form": forms.get(facts.form, facts.form),
            "choices": "\n".join(facts.choices),
            "validations": "\n".join(facts.validations),
            "indicators": "\n".join(facts.indicators),
        }
        for column, key in enumerate(XLSX_COLUMNS):
            sheet.write_string(row, column, str(values[key]), wrap)
    sheet.freeze_panes(1, 0)
    sheet.set_column(0, len(XLSX_COLUMNS) - 1, 28)
    workbook.close()
    return output.getvalue(), XLSX_TYPE
