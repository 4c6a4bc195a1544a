"""The dictionary commands, through Flask's CLI runner: check, import-redcap, export-redcap.

They only read and write files, so one database (the module's SQLite app) is enough.
"""

from __future__ import annotations

from pathlib import Path

import flask
from click.testing import Result

from entry.dictionary import load_dictionary
from entry.redcap import REDCAP_COLUMNS, read_redcap
from tests.conftest import PROJECT_ROOT, REFERENCE
from tests.integration.test_user_commands import run as run_command

STROKE = PROJECT_ROOT / "registries" / "stroke" / "dictionary.csv"
SIMPLE = REFERENCE / "redcap" / "simple.csv"


def run(app: flask.Flask, *args: str | Path, exit_code: int = 0) -> Result:
    """`flask dictionary …` with the checks of the user commands' runner (no tracebacks)."""
    return run_command(app, "dictionary", *map(str, args), exit_code=exit_code)


def test_check_passes_the_stroke_dictionary(sqlite_app: flask.Flask) -> None:
    output = run(sqlite_app, "check", STROKE).output
    assert "60 variables in 3 form(s), no problems" in output


def test_check_prints_every_problem_with_row_and_column(
    sqlite_app: flask.Flask, tmp_path: Path
) -> None:
    lines = STROKE.read_text(encoding="utf-8").splitlines()
    lines[6] = lines[6].replace(",integer,", ",whole,")  # age, on line 7
    lines[7] = lines[7].replace('"1, Mann | 2, Kvinne"', '"1, Mann | 1, Kvinne"')  # sex
    lines[20] = lines[20].replace("thrombolysis = 1", "thrombolysiss = 1")  # line 21
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = run(sqlite_app, "check", broken, exit_code=1).output
    assert f"{broken}: 3 problem(s)" in output
    assert "row 7, column type: unknown type 'whole'" in output
    assert "row 8, column choices_nb: duplicate codes: 1" in output
    assert "row 21, column show_if at position 0: unknown variable 'thrombolysiss'" in output


def test_import_and_export_redcap(sqlite_app: flask.Flask, tmp_path: Path) -> None:
    ours, back = tmp_path / "ours.csv", tmp_path / "back.csv"
    output = run(sqlite_app, "import-redcap", SIMPLE, ours).output
    assert "REDCap has one language" in output
    assert "mugshot: a file upload is kept as text" in output
    dictionary = load_dictionary(ours)
    assert dictionary.variable("bmi").calculation_text == (
        "round(weight * 10000 / (height * height), 1)"
    )
    assert dictionary.variable("sex").label.nb == dictionary.variable("sex").label.en == "Gender"

    output = run(sqlite_app, "export-redcap", ours, back, "--language", "en").output
    assert f"Wrote {back}" in output
    rows = read_redcap(back.read_text(encoding="utf-8"))
    original = read_redcap(SIMPLE.read_text(encoding="utf-8-sig"))
    assert [cells["Variable / Field Name"] for _, cells in rows] == [
        cells["Variable / Field Name"] for _, cells in original
    ]
    assert list(rows[0][1]) == list(REDCAP_COLUMNS)


def test_export_of_the_stroke_dictionary_lists_what_is_left_out(
    sqlite_app: flask.Flask, tmp_path: Path
) -> None:
    target = tmp_path / "stroke_redcap.csv"
    output = run(sqlite_app, "export-redcap", STROKE, target).output
    assert "the English texts are left out" in output
    assert "validation rules (REDCap keeps only min and max) left out" in output
    by_name = {c["Variable / Field Name"]: c for _, c in read_redcap(target.read_text("utf-8"))}
    assert by_name["sex"]["Field Label"] == "Kjønn"


def test_untranslatable_logic_stops_the_import_with_its_row(
    sqlite_app: flask.Flask, tmp_path: Path
) -> None:
    text = SIMPLE.read_text(encoding="utf-8-sig").replace(
        'age,demographics,,text,"Age (years)",,,,,,,,',
        "age,demographics,,text,\"Age (years)\",,,,,,,[event_1_arm_1][sex] = '1',",
    )
    source, target = tmp_path / "logic.csv", tmp_path / "out.csv"
    source.write_text(text, encoding="utf-8")
    output = run(sqlite_app, "import-redcap", source, target, exit_code=1).output
    assert "row 9, column Branching Logic (Show field only if...) at position 0" in output
    assert "event and instance references" in output
    assert not target.exists()


def test_export_refuses_a_broken_dictionary(sqlite_app: flask.Flask, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("variable,form\nx,f\n", encoding="utf-8")
    output = run(sqlite_app, "export-redcap", broken, tmp_path / "out.csv", exit_code=1).output
    assert "row 1, column -: required column(s) missing: section_nb" in output
