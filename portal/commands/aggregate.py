"""`flask --app app aggregate check FILE --registry KEY --user NAME` and `… publish FILE`.

For registries that capture their data elsewhere: `check` checks every row of a file in
SKDE's format (`entry.aggregate_file`), prints every problem with its row, and stores a
clean file unpublished, printing its results as the public pages would show them; `publish`
publishes the checked upload of that same file (known by its SHA-256). The user named must
be an admin of the whole registry; the audit log names that user.
"""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl
from flask.cli import with_appcontext

from data_access import accounts
from data_access.access import scope_for_user
from data_access.accounts import AccountError
from data_access.aggregate_uploads import UploadRefusedError, find_upload, publish_upload
from data_access.audit import Actor
from entry.aggregate_file import content_hash
from portal.aggregate_requests import check_upload, may_upload, problem_text, verify_frame
from portal.auth.identity import database, now
from portal.commands.import_file import _registry
from portal.commands.users import _echo_table

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("aggregate", help="Upload indicator data in SKDE's format (check, then publish).")
def aggregate_group() -> None:
    """The commands of aggregate upload."""


@aggregate_group.command("check", help="Check a file row by row; keep it unpublished if clean.")
@click.argument("file", type=_FILE)
@click.option("--registry", "registry_key", required=True, help="Registry key, e.g. stroke.")
@click.option("--user", "username", required=True, help="An admin of the whole registry.")
@click.option("--language", type=click.Choice(["nb", "en"]), default="en")
@with_appcontext
def check_command(file: Path, registry_key: str, username: str, language: str) -> None:
    folder = _registry(registry_key)
    actor = _admin(registry_key, username)
    outcome = check_upload(database(), actor, folder, file.name, file.read_bytes(), now().year)
    if outcome.upload is None:
        problems = pl.DataFrame(
            {
                "row": [p.row for p in outcome.problems],
                "reason": [problem_text(p, language) for p in outcome.problems],
            },
            schema={"row": pl.Int64, "reason": pl.String},
        )
        _echo_table(problems, empty="")
        raise click.ClickException(
            f"refused, nothing saved: {len(outcome.problems)} problem(s) in {outcome.rows} row(s)"
        )
    _echo_table(_verify_table(verify_frame(database(), folder, outcome.upload.id)), empty="")
    click.echo(
        f"{outcome.rows} row(s) passed; kept as upload {outcome.upload.id}, not published. "
        f"Publish with: aggregate publish {file} --registry {registry_key} --user {username}"
    )


@aggregate_group.command("publish", help="Publish the checked upload of this file.")
@click.argument("file", type=_FILE)
@click.option("--registry", "registry_key", required=True, help="Registry key, e.g. stroke.")
@click.option("--user", "username", required=True, help="An admin of the whole registry.")
@with_appcontext
def publish_command(file: Path, registry_key: str, username: str) -> None:
    _registry(registry_key)
    actor = _admin(registry_key, username)
    upload = find_upload(database(), registry_key, content_hash(file.read_bytes()))
    if upload is None:
        raise click.ClickException("this file has not been checked: run aggregate check first")
    try:
        publish_upload(database(), actor, registry_key, upload.id)
    except UploadRefusedError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Published upload {upload.id} ({upload.filename}).")


def _admin(registry_key: str, username: str) -> Actor:
    try:
        user_id = accounts.find_user_id(database(), username)
    except AccountError as error:
        raise click.ClickException(error.message) from None
    if not may_upload(scope_for_user(database(), user_id), registry_key):
        raise click.ClickException(f"{username} is not an admin of the whole {registry_key}")
    return Actor(user_id=user_id, username=username)


def _verify_table(shown: pl.DataFrame) -> pl.DataFrame:
    return shown.select(
        "indicator",
        pl.col("period").alias("year"),
        pl.col("short_name").alias("unit"),
        "numerator",
        "denominator",
        (pl.col("estimate") * 100).round(1).alias("percent"),
        "achievement",
        "note",
    )


COMMANDS: tuple[click.Command, ...] = (aggregate_group,)
