"""What the import page's callbacks receive, read back with suspicion, and what they run.

Everything in a callback request is the browser's word: the registry in the page's store,
the unit, the upload's token, the previewed mapping. `importer` settles who is asking
(a registrar of that registry, in this login session) before anything else; the uploaded
file is found only among this session's own (`portal.import_uploads`); a mapping is judged
by `entry.import_mapping.parse_mapping`, and rows by `data_access.imports.import_rows`,
which checks each row's unit against the caller's scope once more. Forged shapes give None
or a message, never an error.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from dash import html
from dash.development.base_component import Component
from sqlalchemy.exc import IntegrityError

from data_access.access import AccessScope
from data_access.audit import record_event
from data_access.imports import ImportMode, ImportReport, import_rows
from data_access.record_commands import IdentityKeys, RecordRejected
from entry.import_mapping import (
    ImportFileError,
    ImportMapping,
    mapped_rows,
    parse_mapping,
    read_table,
)
from entry.record_rules import TargetStatus
from entry.registry_folder import RegistryFolder
from portal.auth.identity import current_actor, current_scope, current_session, database, settings
from portal.catalogue import find_registry
from portal.components.admin_tables import outcome
from portal.components.import_mapping_form import MAX_COLUMNS, mapping_data
from portal.form_requests import as_id
from portal.i18n import Language, normalise_language, translate
from portal.import_uploads import read_upload

MAX_MEGABYTES: Final = 20
MODES: Final[tuple[ImportMode, ...]] = ("valid_only", "all_or_nothing")


@dataclass(frozen=True)
class Importer:
    """A registrar of the registry named in the page's store, in this login session."""

    registry: RegistryFolder
    scope: AccessScope
    session_id: int
    language: Language

    def message(self, key: str, *, ok: bool, **values: object) -> html.P:
        return outcome(translate(key, self.language, **values), ok=ok)

    def problems(self, key: str, problems: Sequence[str]) -> html.Div:
        """A translated heading over the problems `entry.import_mapping` names (in English,
        as the command line shows them)."""
        return html.Div(
            className="message",
            children=[
                html.P(translate(key, self.language)),
                html.Ul([html.Li(problem) for problem in problems]),
            ],
        )


def importer(context: object) -> Importer | None:
    """The caller as an importer of the store's registry; None, with the refusal in the
    audit log, for anyone without a registrar grant there (or a store the page never wrote)."""
    data = context if isinstance(context, dict) else {}
    key = data.get("registry")
    folder = find_registry(key) if isinstance(key, str) and key else None
    scope, session = current_scope(), current_session()
    if folder is None or session is None or not scope.units(folder.key, "registrar"):
        record_event(
            database(),
            "access.denied",
            current_actor(),
            details={"page": "import", "requirement": "registrar", "registry": str(key)[:64]},
        )
        return None
    return Importer(folder, scope, session.session_id, normalise_language(data.get("language")))


def refused(context: object) -> html.P:
    language = context.get("language") if isinstance(context, dict) else None
    return outcome(translate("import.refused", normalise_language(language)), ok=False)


def decoded_upload(contents: object) -> tuple[bytes | None, str]:
    """The bytes of an upload's data URL, or None and the translation key of the problem."""
    header, _, data = contents.partition(",") if isinstance(contents, str) else ("", "", "")
    if len(data) * 3 // 4 > MAX_MEGABYTES * 1024 * 1024:
        return None, "import.too_large"
    try:
        if header.startswith("data:") and header.endswith(";base64"):
            return base64.b64decode(data, validate=True), ""
    except (binascii.Error, ValueError):
        pass
    return None, "import.upload_again"


def upload_columns(uploaded: object) -> list[str] | None:
    """The file's column names as the upload store holds them; None for anything else."""
    columns = uploaded.get("columns") if isinstance(uploaded, dict) else None
    if not isinstance(columns, list) or len(columns) > MAX_COLUMNS:
        return None
    return [c for c in columns if isinstance(c, str)]


def page_mapping(
    caller: Importer, fields: Mapping[str, object], columns: Mapping[str, object]
) -> ImportMapping | Component:
    """The mapping the page's fields describe, judged as a mapping file is; or why not.

    Without a unit column every row goes to the chosen unit, which must be the caller's.
    """
    unit_column = fields.get("unit_column")
    unit_id = None
    if not isinstance(unit_column, str) or not unit_column.strip():
        unit_id = as_id(fields.get("unit"))
        if unit_id is None:
            return caller.message("import.choose_unit", ok=False)
        if not caller.scope.may_edit_records(caller.registry.key, unit_id):
            return caller.message("import.not_your_unit", ok=False)
    data = mapping_data(
        fields.get("source"),
        fields.get("national_id"),
        fields.get("source_key"),
        unit_column,
        unit_id,
        columns,
    )
    try:
        return parse_mapping(data, caller.registry.dictionary)
    except ImportFileError as error:
        return caller.problems("import.mapping_unusable", error.problems)


def record_status(value: object) -> TargetStatus:
    return "complete" if value == "complete" else "draft"


def run_import(
    caller: Importer, token: object, mapping: ImportMapping, mode: ImportMode, status: object
) -> ImportReport | Component:
    """`import_rows` on the session's kept file, as the caller: its report, or why none."""
    upload = read_upload(settings(), caller.session_id, token)
    if upload is None:
        return caller.message("import.upload_again", ok=False)
    folder = caller.registry
    try:
        frame = read_table(upload.content, f"upload{upload.suffix}")
        rows = mapped_rows(frame, mapping, folder.dictionary)
    except ImportFileError as error:
        return caller.problems("import.file_unusable", error.problems)
    keys = IdentityKeys(settings().national_id_key, settings().pseudonym_key)
    try:
        return import_rows(
            database(),
            caller.scope,
            folder.key,
            mapping.source,
            rows,
            folder.dictionary,
            keys,
            event_date_variable=folder.event_date_variable,
            mode=mode,
            status=record_status(status),
        )
    except IntegrityError:  # the same new source key imported at the same moment
        return caller.message("import.conflict", ok=False)
    except RecordRejected as error:
        return outcome(str(error), ok=False)
