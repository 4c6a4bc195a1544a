"""The public codebook over HTTP: the page in both languages and its three downloads."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import flask
import pytest

from entry.dictionary import load_dictionary, parse_dictionary
from entry.redcap_fields import REDCAP_COLUMNS
from tests.conftest import render_page

STROKE = Path(__file__).resolve().parents[2] / "registries" / "stroke"


def _text(content: str) -> str:
    """Every string of the page's JSON, joined, so assertions read as plain text."""
    found: list[str] = []

    def walk(tree: object) -> None:
        if isinstance(tree, str):
            found.append(tree)
        elif isinstance(tree, dict):
            for value in tree.values():
                walk(value)
        elif isinstance(tree, list):
            for value in tree:
                walk(value)

    walk(json.loads(content)["response"]["_pages_content"]["children"])
    return "\n".join(found)


@pytest.mark.parametrize(
    ("search", "heading", "shown", "indicator"),
    [
        (
            "?registry=stroke",
            "Kodebok: Norsk hjerneslagregister (demo)",
            "«Trombolyse» er ja",
            "Vises når",
        ),
        (
            "?registry=stroke&lang=en",
            "Codebook: Norwegian Stroke Registry (demo)",
            "“Thrombolysis” is yes",
            "Shown when",
        ),
    ],
)
def test_codebook_lists_every_variable_in_both_languages(
    sqlite_app: flask.Flask, search: str, heading: str, shown: str, indicator: str
) -> None:
    language = "en" if "lang=en" in search else "nb"
    text = _text(render_page(sqlite_app.test_client(), "/codebook", search))
    assert heading in text
    assert indicator in text
    dictionary = load_dictionary(STROKE / "dictionary.csv")
    for variable in dictionary.variables:
        assert variable.name in text
        assert variable.label.in_language(language) in text
    other = "nb" if language == "en" else "en"
    assert dictionary.variable("stroke_type").label.in_language(other) not in text
    # thrombolysis_datetime is shown when thrombolysis = 1, in words with the expression under.
    assert shown in text
    assert "thrombolysis = 1" in text


def test_show_if_uses_choice_labels_and_indicators_are_cross_referenced(
    sqlite_app: flask.Flask,
) -> None:
    content = json.loads(render_page(sqlite_app.test_client(), "/codebook", "?lang=en"))
    rows = _rows(content)
    reason = rows["codebook-variable-no_thrombolysis_reason"]
    assert "“Type of stroke” is “Ischaemic stroke” (1) and “Thrombolysis” is no" in reason
    assert "Thrombolysis in ischaemic stroke" in rows["codebook-variable-thrombolysis"]
    # Risk-model covariates count as use; a variable no indicator reads lists none.
    assert "Survival 30 days after stroke" in rows["codebook-variable-age"]
    assert "Must hold" in rows["codebook-variable-onset_datetime"]
    assert "Should hold" in rows["codebook-variable-age"]


def _rows(tree: object, found: dict[str, str] | None = None) -> dict[str, str]:
    """Each table row's id with all its text."""
    found = {} if found is None else found
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict) and str(props.get("id", "")).startswith("codebook-variable-"):
            found[props["id"]] = json.dumps(props, ensure_ascii=False)
        for value in tree.values():
            _rows(value, found)
    elif isinstance(tree, list):
        for value in tree:
            _rows(value, found)
    return found


def test_form_filter_shows_one_form(sqlite_app: flask.Flask) -> None:
    rows = _rows(
        json.loads(render_page(sqlite_app.test_client(), "/codebook", "?form=followup_3m"))
    )
    assert "codebook-variable-mrs_3m" in rows
    assert "codebook-variable-thrombolysis_datetime" not in rows
    unknown = _text(render_page(sqlite_app.test_client(), "/codebook", "?form=nope&lang=en"))
    assert "has no form" in unknown and "thrombolysis_datetime" in unknown


def test_unknown_registry_on_the_page_says_so(sqlite_app: flask.Flask) -> None:
    text = _text(render_page(sqlite_app.test_client(), "/codebook", "?registry=nope&lang=en"))
    assert "There is no registry" in text


def test_landing_page_links_the_codebook(sqlite_app: flask.Flask) -> None:
    content = json.dumps(json.loads(render_page(sqlite_app.test_client(), "/", "?lang=en")))
    assert "/codebook?lang=en&registry=stroke" in content
    assert "Codebook (variable overview)" in content


def test_csv_download_parses_back_to_the_same_dictionary(sqlite_app: flask.Flask) -> None:
    response = sqlite_app.test_client().get("/codebook/stroke.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    parsed = parse_dictionary(response.get_data(as_text=True))
    assert parsed == load_dictionary(STROKE / "dictionary.csv")


def test_version_and_csv_are_the_dictionary_file(sqlite_app: flask.Flask) -> None:
    """The CSV is the file byte for byte and the version its SHA-256, computed here anew."""
    file = (STROKE / "dictionary.csv").read_bytes()
    assert sqlite_app.test_client().get("/codebook/stroke.csv").get_data() == file
    text = _text(render_page(sqlite_app.test_client(), "/codebook", "?lang=en"))
    assert hashlib.sha256(file).hexdigest()[:12] in text


def test_xlsx_download_is_one_sheet_with_every_variable(sqlite_app: flask.Flask) -> None:
    response = sqlite_app.test_client().get("/codebook/stroke.xlsx?lang=en")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as workbook:
        sheets = [n for n in workbook.namelist() if n.startswith("xl/worksheets/sheet")]
        assert sheets == ["xl/worksheets/sheet1.xml"]
        sheet = workbook.read(sheets[0]).decode("utf-8")
        strings = workbook.read("xl/sharedStrings.xml").decode("utf-8")
    assert 'state="frozen"' in sheet and 'ySplit="1"' in sheet
    dictionary = load_dictionary(STROKE / "dictionary.csv")
    for variable in dictionary.variables:
        assert f">{variable.name}<" in strings
    assert "Used by indicators" in strings


def test_redcap_download_has_redcaps_columns(sqlite_app: flask.Flask) -> None:
    response = sqlite_app.test_client().get("/codebook/stroke-redcap.csv?lang=en")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows[0]) == 18 and tuple(rows[0]) == REDCAP_COLUMNS
    dictionary = load_dictionary(STROKE / "dictionary.csv")
    assert [row[0] for row in rows[1:]] == [v.name for v in dictionary.variables]
    assert "Type of stroke" in {row[4] for row in rows[1:]}


@pytest.mark.parametrize(
    "path",
    [
        "/codebook/nope.csv",
        "/codebook/nope.xlsx",
        "/codebook/nope-redcap.csv",
        "/codebook/stroke.pdf",
    ],
)
def test_unknown_registry_or_format_is_not_found(sqlite_app: flask.Flask, path: str) -> None:
    assert sqlite_app.test_client().get(path).status_code == 404


@pytest.mark.parametrize(
    ("language", "heading", "current", "added"),
    [
        ("nb", "Endringshistorikk", "Gjeldende versjon av variabellisten: 2.1", "Lagt til"),
        ("en", "Change history", "Current dictionary version: 2.1", "Added"),
    ],
)
def test_change_history_is_shown_newest_first_with_the_current_version(
    sqlite_app: flask.Flask, language: str, heading: str, current: str, added: str
) -> None:
    from entry.dictionary_history import read_history

    history = read_history(
        STROKE / "dictionary_changes.yaml", load_dictionary(STROKE / "dictionary.csv")
    )
    text = _text(render_page(sqlite_app.test_client(), "/codebook", f"?lang={language}"))
    assert heading in text and current in text and added in text
    # The version shown is the newest entry; the fingerprint is still there, explained.
    assert history[-1].version == "2.1"
    file = (STROKE / "dictionary.csv").read_bytes()
    assert hashlib.sha256(file).hexdigest()[:12] in text
    newest_first = [
        text.index(change.text.in_language(language))
        for v in reversed(history)
        for change in v.changes[:1]
    ]
    assert newest_first == sorted(newest_first)
    assert "door_to_needle_minutes" in text.split(heading, 1)[1]


def test_a_registry_without_history_says_so(tmp_path: Path) -> None:
    import shutil

    from app import create_app
    from tests.conftest import make_settings

    registries = tmp_path / "registries"
    shutil.copytree(
        STROKE,
        registries / "stroke",
        ignore=shutil.ignore_patterns("dictionary_changes.yaml", "__pycache__"),
    )
    server = create_app(
        make_settings(
            tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", REGISTRIES_PATH=str(registries)
        )
    )
    try:
        text = _text(render_page(server.test_client(), "/codebook", "?lang=en"))
    finally:
        server.extensions["database"].dispose()
    assert "has not published a change history" in text
    assert "Dictionary version:" in text and "Current dictionary version" not in text
