"""`flask --app app import FILE`: registrations from a CSV or Excel file of another system.

Acts as the named user (`--user`), whose registrar grants must cover each row's unit; the
audit log names that user. The mapping (see `entry.import_mapping`) comes from `--mapping
map.yaml` and is then kept under `<instance>/import_mappings/<registry>/<source>.yaml`, so a
later import of the same source needs only `--source`. The default is a preview that lists
every bad row and field with the reason and writes nothing; `--valid-only` imports the good
rows, `--all-or-nothing` imports everything or nothing. Either way, in one transaction;
while it writes, a line per batch on stderr tells how far it has come (nothing is committed
until the report is printed).
"""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl
from flask.cli import with_appcontext

from data_access import accounts
from data_access.access import scope_for_user
from data_access.accounts import AccountError
from data_access.imports import ImportMode, ImportReport, import_rows
from data_access.record_commands import IdentityKeys, RecordRejected
from entry.import_mapping import (
    ImportFileError,
    ImportMapping,
    mapped_rows,
    read_mapping,
    read_table,
    save_mapping,
    saved_mapping,
)
from entry.registry_folder import RegistryFolder
from portal.auth.identity import database, settings
from portal.catalogue import installed_registries
from portal.commands.users import _echo_table


def mappings_directory() -> Path:
    """Mappings are configuration of this installation, kept beside its secrets."""
    return settings().instance_path / "import_mappings"


@click.command("import", help="Import registrations from a CSV or Excel file (preview first).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--registry", "registry_key", required=True, help="Registry key, e.g. stroke.")
@click.option("--user", "username", required=True, help="The registrar the import acts as.")
@click.option("--mapping", "mapping_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", default=None, help="Use the mapping saved for this source.")
@click.option("--dry-run", "mode", flag_value="preview", default=True, help="Preview (default).")
@click.option("--valid-only", "mode", flag_value="valid_only", help="Import only the good rows.")
@click.option(
    "--all-or-nothing", "mode", flag_value="all_or_nothing", help="Nothing if any is bad."
)
@click.option("--status", type=click.Choice(["draft", "complete"]), default="draft")
@click.option("--sheet", default=None, help="Excel: the sheet to read (the first by default).")
@click.option("--language", type=click.Choice(["nb", "en"]), default="en")
@with_appcontext
def import_command(
    file: Path,
    registry_key: str,
    username: str,
    mapping_file: str | None,
    source: str | None,
    mode: ImportMode,
    status: str,
    sheet: str | None,
    language: str,
) -> None:
    folder = _registry(registry_key)
    try:
        mapping = _mapping(folder, mapping_file, source)
        rows = mapped_rows(
            read_table(file.read_bytes(), file.name, sheet), mapping, folder.dictionary
        )
        user_id = accounts.find_user_id(database(), username)
    except ImportFileError as error:
        raise click.ClickException("\n".join(error.problems)) from None
    except AccountError as error:
        raise click.ClickException(error.message) from None
    keys = IdentityKeys(settings().national_id_key, settings().pseudonym_key)
    try:
        report = import_rows(
            database(),
            scope_for_user(database(), user_id),
            folder.key,
            mapping.source,
            rows,
            folder.dictionary,
            keys,
            event_date_variable=folder.event_date_variable,
            mode=mode,
            status="complete" if status == "complete" else "draft",
            progress=_echo_progress,
        )
    except RecordRejected as error:
        raise click.ClickException(str(error)) from None
    _echo_report(report, mapping, language)
    if mode == "all_or_nothing" and report.problems:
        raise click.ClickException(f"nothing imported: {len(report.bad_rows)} bad row(s)")


def _registry(key: str) -> RegistryFolder:
    for folder in installed_registries():
        if folder.key == key:
            return folder
    raise click.ClickException(f"unknown registry {key!r}")


def _mapping(folder: RegistryFolder, mapping_file: str | None, source: str | None) -> ImportMapping:
    if mapping_file is None:
        if source is None:
            raise click.UsageError("give --mapping map.yaml, or --source for a saved mapping")
        return saved_mapping(mappings_directory(), folder.key, source, folder.dictionary)
    mapping = read_mapping(Path(mapping_file).read_text(encoding="utf-8"), folder.dictionary)
    if source is not None and source != mapping.source:
        raise click.UsageError(f"--source {source} differs from the mapping's {mapping.source}")
    save_mapping(mappings_directory(), folder.key, mapping)
    return mapping


def _echo_progress(written: int, total: int) -> None:
    """On stderr, so the report on stdout stays clean; nothing is committed until the end."""
    click.echo(f"Writing: {written} of {total} row(s) written, not yet committed.", err=True)


def _echo_report(report: ImportReport, mapping: ImportMapping, language: str) -> None:
    fixed = {"unit": "(fixed)"}
    problems = pl.DataFrame(
        [
            {
                "row": problem.row,
                "column": mapping.column_of(problem.field) or fixed.get(problem.field, "-"),
                "field": problem.field,
                "rule": problem.rule,
                "reason": problem.message.in_language(language),
            }
            for problem in report.problems
        ],
        schema={
            "row": pl.Int64,
            "column": pl.String,
            "field": pl.String,
            "rule": pl.String,
            "reason": pl.String,
        },
    )
    _echo_table(problems, empty="No bad rows.")
    good = report.rows - len(report.bad_rows)
    click.echo(f"{report.rows} row(s): {good} good, {len(report.bad_rows)} bad.")
    if report.written:
        click.echo(
            f"Imported from {report.source}: {report.count('create')} created, "
            f"{report.count('update')} updated, {report.count('unchanged')} unchanged, "
            f"{report.count('skipped')} bad row(s) skipped."
        )
    elif report.mode == "preview":
        click.echo(
            f"Preview, nothing written: would create {report.count('create')}, "
            f"update up to {report.count('update')}. "
            "Run again with --valid-only or --all-or-nothing to import."
        )


COMMANDS: tuple[click.Command, ...] = (import_command,)
