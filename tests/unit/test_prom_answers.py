"""A patient's answers become registration values that the registry's own rules accept."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from entry.prom_answers import (
    AnswersRejected,
    answers_to_values,
    check_answers,
    invitation_due,
    invitation_values,
)
from entry.record_rules import check_values
from entry.registry_folder import read_registry_folder

REGISTRY = read_registry_folder(Path(__file__).resolve().parents[2] / "registries" / "stroke")
QUESTIONNAIRE = REGISTRY.questionnaire("stroke_3m")
ANSWERED_ON = date(2025, 4, 2)

MRS_2 = {
    "mrs_constant_care_3m": "0",
    "mrs_walk_unaided_3m": "1",
    "mrs_own_affairs_3m": "1",
    "mrs_usual_activities_3m": "0",
}
EQ5D_21345 = {
    "eq5d_mobility_3m": "2",
    "eq5d_selfcare_3m": "1",
    "eq5d_activities_3m": "3",
    "eq5d_pain_3m": "4",
    "eq5d_anxiety_3m": "5",
}
REGISTRATION = {
    "admission_date": "2025-01-01",
    "arrival_datetime": "2025-01-01T10:00",
    "onset_known": 0,
    "age": 70,
    "sex": 1,
    "stroke_type": 1,
    "thrombolysis": 0,
    "discharge_date": "2025-01-08",
    "died_in_hospital": 0,
}
"""A complete registration of a patient discharged alive: its required fields."""


def test_answers_become_values_with_scores_and_the_response_recorded() -> None:
    answers = {**MRS_2, **EQ5D_21345, "eq_vas_3m": "70", "smoking_3m": "0"}
    values = answers_to_values(QUESTIONNAIRE, answers, ANSWERED_ON)
    assert values["mrs_3m"] == 2
    assert values["eq5d_index_3m"] == 0.137072  # 1 − (0.03116 + 0.056743 + 0.303025 + 0.472)
    assert values["eq_vas_3m"] == 70 and values["smoking_3m"] == 0
    assert values["mrs_symptoms_3m"] is None  # hidden by the tree: cleared, not kept
    assert values["living_situation_3m"] is None
    assert {k: values[k] for k in ("prom_3m_invited", "prom_3m_answered", "prom_3m_version")} == {
        "prom_3m_invited": 1,
        "prom_3m_answered": 1,
        "prom_3m_version": 1,
    }
    assert (values["followup_done"], values["followup_method"]) == (1, 3)
    assert values["followup_date"] == ANSWERED_ON
    assert set(values) >= {q.name for q in QUESTIONNAIRE.questions}

    stored = check_values(REGISTRY.dictionary, {**REGISTRATION, **values}, target_status="complete")
    assert stored.errors == ()
    assert stored.values["mrs_3m"] == 2 and stored.values["eq5d_index_3m"] == 0.137072


def test_a_missing_eq5d_dimension_leaves_the_index_blank() -> None:
    answers = {**MRS_2, **EQ5D_21345, "eq5d_pain_3m": ""}
    values = answers_to_values(QUESTIONNAIRE, answers, ANSWERED_ON)
    assert values["eq5d_index_3m"] is None and values["eq5d_pain_3m"] is None
    assert values["mrs_3m"] == 2


def test_answers_past_the_settling_step_are_hidden_and_do_not_count() -> None:
    answers = {"mrs_constant_care_3m": "1", "mrs_walk_unaided_3m": "1", "mrs_symptoms_3m": "0"}
    values = answers_to_values(QUESTIONNAIRE, answers, ANSWERED_ON)
    assert values["mrs_3m"] == 5
    assert values["mrs_walk_unaided_3m"] is None and values["mrs_symptoms_3m"] is None


@pytest.mark.parametrize(
    ("answers", "variable", "rule"),
    [
        ({}, "mrs_constant_care_3m", "mrs_constant_care_3m:required"),
        ({"mrs_constant_care_3m": "0"}, "mrs_walk_unaided_3m", "mrs_walk_unaided_3m:required"),
        ({**MRS_2, "eq_vas_3m": "101"}, "eq_vas_3m", "eq_vas_3m:maximum"),
        ({**MRS_2, "eq5d_pain_3m": "6"}, "eq5d_pain_3m", "eq5d_pain_3m:choice"),
        ({**MRS_2, "eq_vas_3m": "good"}, "eq_vas_3m", "eq_vas_3m:type"),
        ({**MRS_2, "age": "70"}, "age", "age:unknown"),  # not a question of the questionnaire
    ],
)
def test_answers_that_break_the_rules_are_refused(
    answers: dict[str, object], variable: str, rule: str
) -> None:
    with pytest.raises(AnswersRejected) as caught:
        answers_to_values(QUESTIONNAIRE, answers, ANSWERED_ON)
    assert [(i.variable, i.rule) for i in caught.value.check.errors] == [(variable, rule)]
    assert caught.value.check.errors == check_answers(QUESTIONNAIRE, answers).errors


def test_messages_follow_the_patients_language() -> None:
    (issue,) = check_answers(QUESTIONNAIRE, {}).errors
    assert issue.message.in_language("en") == "The field is required."
    assert issue.message.in_language("nn") == issue.message.in_language("nb")  # bokmål stands in


@pytest.mark.parametrize(
    ("document", "due"),
    [
        (REGISTRATION, date(2025, 4, 1)),
        ({**REGISTRATION, "died_in_hospital": 1}, None),
        ({**REGISTRATION, "death_date": "2025-02-01"}, None),
        ({k: v for k, v in REGISTRATION.items() if k != "died_in_hospital"}, None),  # unknown
        ({k: v for k, v in REGISTRATION.items() if k != "admission_date"}, None),
    ],
)
def test_invitation_due_follows_the_rule(document: dict[str, object], due: date | None) -> None:
    assert invitation_due(QUESTIONNAIRE, REGISTRY.dictionary, document) == due


def test_an_invitation_is_recorded_in_one_variable() -> None:
    assert invitation_values(QUESTIONNAIRE) == {"prom_3m_invited": 1}
