"""Dictionary commands: `flask --app app dictionary check|import-redcap|export-redcap`.

They let a registry's staff check a dictionary before it goes live and move it to and from
REDCap. They read and write files only, never the database. Every problem is printed with
its row, column and reason, and any problem makes the exit code 1, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import click

from entry.dictionary import DictionaryError, Problem, load_dictionary
from entry.redcap import RedcapError, export_redcap, import_redcap

_IN = click.Path(exists=True, dir_okay=False, path_type=Path)
_OUT = click.Path(dir_okay=False, writable=True, path_type=Path)


@click.group(help="The data dictionary: check it, and import from or export to REDCap.")
def dictionary() -> None:
    """Commands on `registries/<key>/dictionary.csv` files."""


def _refuse(source: Path, problems: list[Problem]) -> click.ClickException:
    lines = [f"{source}: {len(problems)} problem(s)", *(f"  {p}" for p in problems)]
    return click.ClickException("\n".join(lines))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{path}: cannot read the file: {error}") from None


@dictionary.command(help="Check a dictionary and print every problem with its row and column.")
@click.argument("path", type=_IN)
def check(path: Path) -> None:
    try:
        loaded = load_dictionary(path)
    except DictionaryError as error:
        raise _refuse(path, error.problems) from None
    click.echo(
        f"{path}: {len(loaded.variables)} variables in {len(loaded.forms)} form(s), no problems."
    )


@dictionary.command("import-redcap", help="Convert a REDCap data dictionary into ours.")
@click.argument("source", type=_IN)
@click.argument("target", type=_OUT)
def import_redcap_command(source: Path, target: Path) -> None:
    try:
        converted = import_redcap(_read(source))
    except RedcapError as error:
        raise _refuse(source, error.problems) from None
    target.write_text(converted.text, encoding="utf-8")
    click.echo(f"Wrote {target} from {source}.")
    for note in converted.notes:
        click.echo(f"  note: {note}")


@dictionary.command("export-redcap", help="Convert our dictionary into REDCap's 18 columns.")
@click.argument("source", type=_IN)
@click.argument("target", type=_OUT)
@click.option(
    "--language",
    type=click.Choice(["nb", "en"]),
    default="nb",
    show_default=True,
    help="REDCap has one language: the texts to write.",
)
def export_redcap_command(source: Path, target: Path, language: str) -> None:
    try:
        converted = export_redcap(load_dictionary(source), language)
    except (DictionaryError, RedcapError) as error:
        raise _refuse(source, error.problems) from None
    target.write_text(converted.text, encoding="utf-8")
    click.echo(f"Wrote {target} from {source}.")
    for note in converted.notes:
        click.echo(f"  note: {note}")


COMMANDS: tuple[click.Command, ...] = (dictionary,)
