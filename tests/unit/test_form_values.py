"""Widget text to raw input and back (portal.form_values), on the stroke dictionary."""

from __future__ import annotations

from pathlib import Path

import pytest

from entry.dictionary import load_dictionary
from entry.record_rules import check_values
from portal.form_values import form_state, raw_value, raw_values, widget_value

DICTIONARY = load_dictionary(Path("registries/stroke/dictionary.csv"))


@pytest.mark.parametrize(
    ("name", "stored", "language", "shown"),
    [
        ("admission_date", "2025-03-01", "nb", "01.03.2025"),
        ("arrival_datetime", "2025-03-01T10:05:00", "en", "01.03.2025 10:05"),
        ("glucose_admission", 6.4, "nb", "6,4"),
        ("glucose_admission", 6.4, "en", "6.4"),
        ("sex", 2, "nb", "2"),
        ("smoker", 0, "nb", "0"),
        ("age", 74, "nb", "74"),
        ("age", None, "nb", None),
    ],
)
def test_a_stored_value_round_trips_through_its_widget(
    name: str, stored: object, language: str, shown: object
) -> None:
    variable = DICTIONARY.variable(name)
    assert widget_value(variable, stored, language) == shown
    if stored is not None:
        check = check_values(DICTIONARY, {name: raw_value(variable, shown)})
        assert check.document().get(name) == stored


@pytest.mark.parametrize("blank", [None, "", "   ", []])
def test_a_blank_widget_is_named_as_blank(blank: object) -> None:
    values = raw_values(DICTIONARY, "followup_3m", {"followup_done": blank})
    assert values["followup_done"] is None
    assert set(values) == {v.name for v in DICTIONARY.in_form("followup_3m")}


def test_required_findings_wait_until_completion_is_tried() -> None:
    quiet = form_state(DICTIONARY, "admission", {}, language="en")
    assert quiet.issues == {}
    asked = form_state(DICTIONARY, "admission", {}, language="en", with_required=True)
    assert "admission_date" in asked.issues and "discharge_date" not in asked.issues
