"""The rules of one record, on the stroke registry's dictionary."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from pathlib import Path

import pytest

from entry.dictionary import Dictionary, load_dictionary
from entry.record_rules import SKIPPED_KEY, check_values, read_document

DICTIONARY = load_dictionary(Path("registries/stroke/dictionary.csv"))

COMPLETE = {
    "admission_date": "2025-03-01",
    "arrival_datetime": "2025-03-01T10:00",
    "onset_known": "0",
    "age": "70",
    "sex": "2",
    "stroke_type": "1",
    "thrombolysis": "1",
    "thrombolysis_datetime": "2025-03-01 10:35",
    "discharge_date": "2025-03-08",
    "died_in_hospital": "0",
}


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return DICTIONARY


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("age", "70", 70),
        ("age", " 70 ", 70),
        ("age", 70.0, 70),
        ("glucose_admission", "7,5", 7.5),
        ("glucose_admission", "7.5", 7.5),
        ("glucose_admission", 8, 8.0),
        ("admission_date", "01.03.2025", date(2025, 3, 1)),
        ("admission_date", "2025-03-01", date(2025, 3, 1)),
        ("arrival_datetime", "2025-03-01T10:00", datetime(2025, 3, 1, 10)),
        ("arrival_datetime", "2025-03-01 10:00:30", datetime(2025, 3, 1, 10, 0, 30)),
        ("sex", "2", 2),
        ("sex", 2, 2),
        ("onset_known", True, 1),
        ("stroke_type", "", None),
        ("age", None, None),
    ],
)
def test_input_is_read_by_type(
    dictionary: Dictionary, name: str, raw: object, expected: object
) -> None:
    check = check_values(dictionary, {"admission_date": "2025-03-01", name: raw})
    assert check.values.get(name) == expected
    assert not [i for i in check.errors if i.variable == name and not i.rule.endswith("required")]


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("age", "seventy"),
        ("age", "70.5"),
        ("glucose_admission", "7.5.1"),
        ("glucose_admission", "nan"),
        ("admission_date", "2025-02-30"),
        ("admission_date", "31.04.2025"),
        ("arrival_datetime", "2025-03-01T10:00+01:00"),
        ("arrival_datetime", "yesterday"),
        ("sex", "male"),
        ("no_such_field", "1"),
        ("door_to_needle_minutes", None),  # calculated: ignored, not an error
    ],
)
def test_unreadable_input_blocks_even_a_draft(
    dictionary: Dictionary, name: str, raw: object
) -> None:
    check = check_values(dictionary, {name: raw})
    if name == "door_to_needle_minutes":
        assert check.storable
        return
    [issue] = [issue for issue in check.errors if issue.variable == name]
    assert issue.rule in (f"{name}:type", f"{name}:unknown")
    assert issue.blocks_draft and not check.storable and not check.may_save
    assert issue.message.nb and issue.message.en


def test_hidden_fields_are_dropped_and_skipped_not_unknown(dictionary: Dictionary) -> None:
    values = {**COMPLETE, "stroke_type": "2", "no_thrombolysis_reason": "1"}
    check = check_values(dictionary, values)
    for hidden in ("thrombolysis", "thrombolysis_datetime", "no_thrombolysis_reason"):
        assert hidden not in check.values
        assert hidden in check.skipped
    # A field hidden by a hidden field is hidden too, and so is its calculation's input.
    assert "door_to_needle_minutes" not in check.values
    assert "discharge_date" not in check.skipped
    document = check.document()
    assert "thrombolysis_datetime" in document[SKIPPED_KEY]  # type: ignore[operator]
    assert "thrombolysis_datetime" not in document
    json.dumps(document)  # JSON-safe


def test_shown_field_is_not_skipped(dictionary: Dictionary) -> None:
    check = check_values(dictionary, COMPLETE)
    assert "thrombolysis_datetime" not in check.skipped
    assert check.values["thrombolysis_datetime"] == datetime(2025, 3, 1, 10, 35)


def test_calculated_fields(dictionary: Dictionary) -> None:
    check = check_values(dictionary, {**COMPLETE, "door_to_needle_minutes": "999"})
    assert check.values["door_to_needle_minutes"] == 35
    assert check.values["length_of_stay"] == 7
    blank = check_values(dictionary, {"admission_date": "2025-03-01"})
    assert "length_of_stay" not in blank.values


def test_required_blocks_completion_only(dictionary: Dictionary) -> None:
    values = {k: v for k, v in COMPLETE.items() if k != "sex"}
    draft = check_values(dictionary, values, target_status="draft")
    assert draft.may_save
    complete = check_values(dictionary, values, target_status="complete")
    assert [issue.rule for issue in complete.errors] == ["sex:required"]
    assert not complete.may_save
    assert check_values(dictionary, COMPLETE, target_status="complete").may_save


def test_required_hidden_field_is_not_required(dictionary: Dictionary) -> None:
    values = {**COMPLETE, "stroke_type": "3"}
    check = check_values(dictionary, values, target_status="complete")
    assert "thrombolysis" in check.skipped
    assert check.may_save


def test_discharge_before_admission_is_an_error(dictionary: Dictionary) -> None:
    values = {**COMPLETE, "discharge_date": "2025-02-27"}
    check = check_values(dictionary, values, target_status="complete")
    [error] = check.errors
    assert (error.variable, error.rule, error.severity) == (
        "discharge_date",
        "discharge_date:rule1",
        "error",
    )
    assert error.message.en.startswith("The date of discharge")
    assert not check.may_save
    assert check_values(dictionary, values, target_status="draft").may_save


@pytest.mark.parametrize(
    ("name", "raw", "rule"),
    [
        ("age", "5", "age:minimum"),
        ("age", "111", "age:maximum"),
        ("sex", "3", "sex:choice"),
        ("nihss_admission", "43", "nihss_admission:maximum"),
    ],
)
def test_bounds_and_choices(dictionary: Dictionary, name: str, raw: str, rule: str) -> None:
    check = check_values(dictionary, {**COMPLETE, name: raw}, target_status="complete")
    assert rule in {issue.rule for issue in check.errors}


def test_warnings_need_acknowledgement(dictionary: Dictionary) -> None:
    values = {**COMPLETE, "age": "104"}
    check = check_values(dictionary, values, target_status="complete")
    [warning] = check.warnings
    assert (warning.rule, warning.severity) == ("age:rule1", "warning")
    assert not check.errors and not check.may_save
    acknowledged = check_values(
        dictionary, values, target_status="complete", acknowledged={"age:rule1", "other:rule9"}
    )
    assert acknowledged.may_save
    assert acknowledged.acknowledged == {"age:rule1"}  # only warnings that fired are kept
    assert acknowledged.document()["_acknowledged"] == ["age:rule1"]


def test_unknown_does_not_fire_a_rule(dictionary: Dictionary) -> None:
    check = check_values(dictionary, {"discharge_date": "2025-01-01"})
    assert not [issue for issue in check.errors if issue.rule == "discharge_date:rule1"]


def test_form_limits_findings(dictionary: Dictionary) -> None:
    check = check_values(dictionary, {"admission_date": "2025-03-01"}, form="discharge")
    assert {issue.variable for issue in check.errors} <= {
        v.name for v in dictionary.in_form("discharge")
    }


def test_stored_document_reads_back_the_same(dictionary: Dictionary) -> None:
    first = check_values(dictionary, {**COMPLETE, "age": "104"}, acknowledged={"age:rule1"})
    stored = json.loads(json.dumps(first.document()))
    values, acknowledged = read_document(stored)
    second = check_values(dictionary, values, acknowledged=acknowledged)
    assert second.values == first.values
    assert second.skipped == first.skipped
    assert second.document() == stored
    assert isinstance(second.values["arrival_datetime"], datetime)
    assert not isinstance(second.values["admission_date"], datetime)
    assert time(10, 0) == second.values["arrival_datetime"].time()  # type: ignore[attr-defined]
