"""Patient questionnaires load strictly: the stroke questionnaire loads, and every problem of a
broken questionnaires.yaml is reported at once, naming the questionnaire and the key."""

from __future__ import annotations

import copy
import csv
import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from entry.dictionary import Text, load_dictionary, parse_dictionary
from entry.dictionary_model import DictionaryError
from entry.questionnaires import QuestionnaireError, load_questionnaires, read_questionnaires
from entry.registry_folder import RegistryFolderError, read_registry_folder

STROKE = Path(__file__).resolve().parents[2] / "registries" / "stroke"
REGISTRY = load_dictionary(STROKE / "dictionary.csv")
ENTRY: dict[str, Any] = yaml.safe_load((STROKE / "questionnaires.yaml").read_text("utf-8"))[0]
QUESTIONS = (STROKE / "questionnaires" / "stroke_3m_v1.csv").read_text("utf-8")


def test_the_stroke_questionnaire_loads_with_the_registry() -> None:
    registry = read_registry_folder(STROKE)
    questionnaire = registry.questionnaire("stroke_3m")
    assert registry.questionnaire("stroke_3m", version=1) is questionnaire
    assert questionnaire.title.in_language("nn").startswith("Korleis har du det")
    assert questionnaire.title.in_language("en").startswith("How are you")
    assert set(questionnaire.dictionary.forms) == {"stroke_3m"}
    names = [q.name for q in questionnaire.questions]
    assert names[:5] == [
        "mrs_constant_care_3m",
        "mrs_walk_unaided_3m",
        "mrs_own_affairs_3m",
        "mrs_usual_activities_3m",
        "mrs_symptoms_3m",
    ]
    assert {"eq5d_mobility_3m", "eq_vas_3m", "living_situation_3m", "smoking_3m"} <= set(names)
    assert questionnaire.instruments["eq5d5l"].score == "eq5d_index_3m"
    assert questionnaire.instruments["mrs_simplified"].score == "mrs_3m"
    assert questionnaire.invitation.days_after == 90
    assert questionnaire.response.sets == {"followup_done": 1, "followup_method": 3}
    for question in questionnaire.dictionary.variables:
        assert question.label.nn, question.name
        assert all(choice.label.nn for choice in question.choices), question.name
    walk = questionnaire.dictionary.variable("mrs_walk_unaided_3m")
    assert walk.show_if_text == "mrs_constant_care_3m = 0" and walk.required
    with pytest.raises(KeyError):
        registry.questionnaire("stroke_3m", version=2)


def _folder(
    tmp_path: Path,
    entries: list[dict[str, Any]],
    questions: str = QUESTIONS,
    name: str = "questionnaires/stroke_3m_v1.csv",
) -> Path:
    folder = tmp_path / "stroke"
    shutil.copytree(STROKE, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (folder / name).write_text(questions, encoding="utf-8")
    (folder / "questionnaires.yaml").write_text(yaml.safe_dump(entries), encoding="utf-8")
    return folder


def _changed(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    entry = copy.deepcopy(ENTRY)
    change(entry)
    return entry


def test_the_newest_version_of_each_questionnaire(tmp_path: Path) -> None:
    second = _changed(lambda e: e.update(version=2, dictionary="questionnaires/v2.csv"))
    folder = _folder(tmp_path, [ENTRY, second])
    (folder / "questionnaires" / "v2.csv").write_text(QUESTIONS, encoding="utf-8")
    assert [q.version for q in read_questionnaires(folder, REGISTRY)] == [1, 2]
    assert load_questionnaires(folder, REGISTRY)["stroke_3m"].version == 2
    assert read_registry_folder(folder).questionnaire("stroke_3m", 1).version == 1


def test_a_registry_without_questionnaires(tmp_path: Path) -> None:
    folder = _folder(tmp_path, [])
    (folder / "questionnaires.yaml").unlink()
    assert read_questionnaires(folder, REGISTRY) == ()


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(entry: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = entry
        for key in parents:
            target = target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value

    return change


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("title.nn", None, "questionnaire stroke_3m v1: title.nn: Field required"),
        ("version", 0, "version: Input should be greater than or equal to 1"),
        ("key", "Stroke 3m", "key: String should match pattern"),
        ("colour", "blue", "colour: Extra inputs are not permitted"),
        ("dictionary", "../dictionary.csv", "'../dictionary.csv' is outside the registry folder"),
        ("dictionary", "questionnaires/none.csv", "questionnaires/none.csv: file not found"),
        ("instruments.eq5d5l.version", "UK-2018", "instruments.eq5d5l: no scoring rule"),
        ("instruments.sf36", {"version": "1", "items": {}, "score": "mrs_3m"}, "sf36"),
        ("instruments.eq5d5l.items.pain", None, "item 'pain' has no question"),
        ("instruments.eq5d5l.items.walking", "eq5d_mobility_3m", "eq5d5l has no item 'walking'"),
        ("instruments.eq5d5l.items.pain", "eq5d_pain", "items.pain: no question 'eq5d_pain'"),
        ("instruments.eq5d5l.items.pain", "eq_vas_3m", "eq_vas_3m must be answered by codes"),
        ("instruments.eq5d5l.score", "length_of_stay", "'length_of_stay' is not a number"),
        ("instruments.eq5d5l.score", "eq_vas_3m", "score: eq_vas_3m is also a question"),
        ("invitation.date_variable", "age", "'age' is not a date variable of the registry"),
        ("invitation.when", "died_in_hospital = 0 and dead", "invitation.when: unknown variable"),
        ("invitation.when", "age + 1", "invitation.when: expected"),
        ("invitation.days_after", -1, "days_after: Input should be greater than or equal to 0"),
        ("invitation.reminders", {"count": 3, "days_between": 14}, "day 42"),
        ("response.invited", "age", "response.invited: age is integer, expected yesno"),
        ("response.date", "death", "'death' is not a variable of the registry"),
        ("response.sets", {"followup_method": 9.5}, "9.5 is not a value of followup_method"),
        ("response.sets", {"followup_way": 3}, "'followup_way' is not a variable of the registry"),
        ("response.answered", "smoking_3m", "response: smoking_3m is also a question"),
    ],
)
def test_a_broken_entry_names_the_questionnaire_and_key(
    tmp_path: Path, path: str, value: object, message: str
) -> None:
    folder = _folder(tmp_path, [_changed(_set(path, value))])
    with pytest.raises(QuestionnaireError) as caught:
        read_questionnaires(folder, REGISTRY)
    assert message in str(caught.value)
    assert all(p.startswith("questionnaire ") for p in caught.value.problems)


def _row(questions: str, name: str, cells: dict[str, str]) -> str:
    """The questionnaire CSV with some cells of one variable's row changed."""
    records = list(csv.DictReader(io.StringIO(questions)))
    assert name in [record["variable"] for record in records]
    for record in records:
        if record["variable"] == name:
            record.update(cells)
    out = io.StringIO()
    writer = csv.DictWriter(out, list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


@pytest.mark.parametrize(
    ("variable", "cells", "message"),
    [
        ("smoking_3m", {"variable": "smoking_now"}, "smoking_now: not a variable of the registry"),
        ("smoking_3m", {"form": "other"}, "form 'other', expected 'stroke_3m'"),
        ("smoking_3m", {"label_nn": ""}, "smoking_3m: label missing in nynorsk"),
        ("eq5d_pain_3m", {"choices_nn": ""}, "eq5d_pain_3m: choices missing in nynorsk"),
        ("eq_vas_3m", {"type": "decimal"}, "eq_vas_3m: decimal here, integer in the registry"),
        (
            "living_situation_3m",
            {"choices_nb": "1, A | 9, B", "choices_en": "1, A | 9, B", "choices_nn": "1, A | 9, B"},
            "codes 9 are not in the registry",
        ),
        ("smoking_3m", {"show_if": "smoking = 1"}, "unknown variable"),
    ],
)
def test_a_broken_question_is_named_with_its_row(
    tmp_path: Path, variable: str, cells: dict[str, str], message: str
) -> None:
    folder = _folder(tmp_path, [ENTRY], _row(QUESTIONS, variable, cells))
    with pytest.raises(
        QuestionnaireError, match="questionnaire stroke_3m v1: dictionary"
    ) as caught:
        read_questionnaires(folder, REGISTRY)
    assert message in str(caught.value)


def test_every_problem_is_reported_at_once_and_stops_the_registry(tmp_path: Path) -> None:
    broken = _changed(_set("invitation.date_variable", "age"))
    broken["response"]["invited"] = "age"
    again = copy.deepcopy(ENTRY)
    questions = _row(QUESTIONS, "smoking_3m", {"label_nn": ""})
    folder = _folder(tmp_path, [broken, again, again], questions)
    with pytest.raises(RegistryFolderError) as caught:
        read_registry_folder(folder)
    text = str(caught.value)
    for expected in (
        "questionnaires.yaml",
        "smoking_3m: label missing in nynorsk",
        "invitation.date_variable",
        "response.invited",
        "stroke_3m v1: given more than once",
    ):
        assert expected in text


def test_an_entry_given_twice(tmp_path: Path) -> None:
    folder = _folder(tmp_path, [ENTRY, ENTRY])
    with pytest.raises(QuestionnaireError, match="stroke_3m v1: given more than once"):
        read_questionnaires(folder, REGISTRY)


@pytest.mark.parametrize("content", ["key: stroke_3m", "- [unclosed"])
def test_a_file_that_is_no_list(tmp_path: Path, content: str) -> None:
    folder = _folder(tmp_path, [])
    (folder / "questionnaires.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(QuestionnaireError):
        read_questionnaires(folder, REGISTRY)


# --- nynorsk in the dictionary format ---------------------------------------------------------

HEADER = (
    "variable,form,section_nb,section_en,type,label_nb,label_en,help_nb,help_en,unit,"
    "choices_nb,choices_en,min,max,pattern,required,show_if,calculation,validation,severity,"
    "message_nb,message_en,identifier,annotation"
)


def test_nynorsk_columns_are_optional_and_read_when_given() -> None:
    without = parse_dictionary(
        f'{HEADER}\nx,f,,,single,Val,Choice,,,,"1, Eit | 2, To","1, One | 2, Two",,,,,,,,,,,,\n'
    )
    assert without.variable("x").label == Text("Val", "Choice")
    assert without.variable("x").label.in_language("nn") == "Val"  # bokmål stands in
    text = (
        f"{HEADER},label_nn,choices_nn,message_nn\n"
        'x,f,,,single,Valg,Choice,,,,"1, Ett | 2, To","1, One | 2, Two",,,,,,,x <> 2,warning,'
        'Sjekk,Check,,,Val,"1, Eitt | 2, To",Sjekk no\n'
    )
    x = parse_dictionary(text).variable("x")
    assert x.label.in_language("nn") == "Val" and x.label.in_language("nb") == "Valg"
    assert [c.label.nn for c in x.choices] == ["Eitt", "To"]
    assert x.validations[0].message.in_language("nn") == "Sjekk no"


@pytest.mark.parametrize(
    ("extra", "cells", "reason"),
    [
        (
            "choices_nn",
            '"1, Eitt | 3, Tre"',
            "choices_nn: the codes differ from those of choices_nb",
        ),
        ("label_nn", "Val", None),
        ("help_nn", "Hjelp", "help missing in bokmål"),
        ("section_nn", "Del", "section missing in bokmål"),
        ("language_nn", "x", "unknown column"),
    ],
)
def test_nynorsk_problems(extra: str, cells: str, reason: str | None) -> None:
    text = (
        f"{HEADER},{extra}\n"
        f'x,f,,,single,Valg,Choice,,,,"1, Ett | 2, To","1, One | 2, Two",,,,,,,,,,,,,{cells}\n'
    )
    if reason is None:
        assert parse_dictionary(text).variable("x").label.nn == cells
        return
    with pytest.raises(DictionaryError, match=reason):
        parse_dictionary(text)
