"""The export download: `/export/<registry>.<format>?variables=...&units=...`, streamed.

A plain Flask route rather than a Dash callback, so a file of a million rows never passes
through a callback's JSON and the address of an export is a permalink that reproduces it.
The route re-checks everything the page checked: a logged-in user (`authenticated`), with
export rights in the registry, and the choices parsed afresh; the units asked for are
narrowed to the user's scope inside the SQL (data_access/exports.py), so a forged `units=`
yields nothing from another unit.

- CSV streams as it is read. Each batch is sent only after the next has been read, so the
  last part of the file leaves only after its audit event is written: a download whose
  event could not be written never completes.
- Excel, Parquet, SPSS and Stata are written to a temporary file first (their audit event is
  written as the last batch is read), then streamed with a Content-Length and deleted.

With `job=<id>` from the page, progress is recorded after each batch for the page to poll
(portal/export_progress.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import flask

from data_access.access import AccessScope
from data_access.exports import ExportQuery, exportable_units, registration_batches
from entry.export_columns import export_columns, flat_frame
from entry.registry_folder import RegistryFolder
from portal import export_progress
from portal.auth.guard import route_access
from portal.auth.identity import current_scope, database, settings
from portal.catalogue import find_registry
from portal.export_formats import (
    FILE_WRITERS,
    MEDIA_TYPES,
    ExportTooLarge,
    Format,
    codebook,
    csv_chunks,
)
from portal.export_request import RequestProblems, parse_export
from portal.i18n import normalise_language, translate
from portal.public_data import units

CHUNK_BYTES = 1 << 20

blueprint = flask.Blueprint("exports", __name__)


@blueprint.get("/export/<string:registry_key>.<string:fmt>")
@route_access("authenticated")
def download(registry_key: str, fmt: str) -> flask.Response:
    """The export as a file; 404 for an unknown registry, 403 without export rights in it,
    400 (JSON, one problem per field) for choices that do not parse."""
    registry = find_registry(registry_key) if registry_key else None
    if registry is None or registry.key != registry_key:
        flask.abort(404)
    scope = current_scope()
    if not exportable_units(scope, registry.key):
        return _json({"error": "no export rights in this registry"}, 403)
    language = normalise_language(flask.request.args.get("lang"))
    try:
        chosen_format, query = parse_export(
            registry.dictionary, units(), fmt, flask.request.args.to_dict()
        )
    except RequestProblems as refused:
        return _json(
            {
                "error": "invalid export",
                "problems": {
                    name: translate(problem.key, language, **problem.values)
                    for name, problem in refused.problems.items()
                },
            },
            400,
        )
    job = flask.request.args.get("job")
    filename = f"{registry.key}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.{chosen_format}"
    export = _Export(registry, scope, query, chosen_format, language, job, filename)
    if chosen_format == "csv":
        response = flask.Response(export.csv(), mimetype=MEDIA_TYPES["csv"])
    else:
        response = export.file_response()
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


class _Export:
    """One export as it runs: reads batches, reports progress, writes the format."""

    def __init__(
        self,
        registry: RegistryFolder,
        scope: AccessScope,
        query: ExportQuery,
        fmt: Format,
        language: str,
        job: str | None,
        filename: str,
    ) -> None:
        self.registry, self.scope, self.query = registry, scope, query
        self.format, self.language, self.job, self.filename = fmt, language, job, filename
        self.columns = export_columns(registry.dictionary, query.variables)
        # Captured now: a streamed response runs after the request context has gone.
        self.settings, self.database = settings(), database()

    def batches(self) -> Iterator[Any]:
        context = {"format": self.format, "file": self.filename, "language": self.language}
        for batch in registration_batches(
            self.database,
            self.scope,
            self.registry.key,
            self.registry.dictionary,
            self.query,
            context=context,
            progress=self._progress,
        ):
            yield flat_frame(batch, self.columns)

    def csv(self) -> Iterator[bytes]:
        """CSV chunks, each sent after the next batch is read (see the module docstring)."""
        self._state("running")
        held: bytes | None = None
        try:
            for chunk in csv_chunks(self.batches()):
                if held is not None:
                    yield held
                held = chunk
        except BaseException:  # the browser went away (GeneratorExit) or the read failed
            self._state("failed")
            raise
        self._state("done")
        if held is not None:
            yield held

    def file_response(self) -> flask.Response:
        writer = FILE_WRITERS[self.format]
        handle, name = tempfile.mkstemp(prefix="export-", suffix=f".{self.format}")
        os.close(handle)
        path = Path(name)
        self._state("running")
        try:
            writer(self.batches(), codebook(self.columns, self.language), path, self.language)
        except ExportTooLarge:
            path.unlink(missing_ok=True)
            self._state("failed")
            message = translate("export.error.too_large", self.language)
            return _json({"error": message}, 413)
        except BaseException:
            path.unlink(missing_ok=True)
            self._state("failed")
            raise
        self._state("done")
        size = path.stat().st_size
        response = flask.Response(_file_chunks(path), mimetype=MEDIA_TYPES[self.format])
        response.headers["Content-Length"] = str(size)
        return response

    def _progress(self, read: int, rows: int) -> None:
        if self.job:
            user_id = self.scope.actor.user_id
            export_progress.update_job(self.settings, self.job, user_id, read=read, rows=rows)

    def _state(self, state: str) -> None:
        if self.job:
            user_id = self.scope.actor.user_id
            export_progress.update_job(
                self.settings, self.job, user_id, state=state, file=self.filename
            )


def _file_chunks(path: Path) -> Iterator[bytes]:
    """The file in chunks, deleted when sent (or when the client goes away)."""
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                yield chunk
    finally:
        path.unlink(missing_ok=True)


def _json(body: dict[str, object], status: int) -> flask.Response:
    return flask.Response(flask.json.dumps(body), status=status, mimetype="application/json")
