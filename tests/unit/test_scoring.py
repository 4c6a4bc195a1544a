"""Instrument scores against published reference values, with their missing-answer rules.

EQ-5D-5L vectors are computed by hand from the Norwegian value set's published decrements
(Garratt et al. 2024): index = 1 − the decrement of each dimension's level, in the order
mobility, self-care, usual activities, pain/discomfort, anxiety/depression.
"""

from __future__ import annotations

import pytest

from entry.instruments import eq5d5l
from entry.scoring import SCORERS, Score, ScoringError, score

NORWAY = "NO-2024"


def _state(digits: str) -> dict[str, int]:
    return dict(zip(eq5d5l.DIMENSIONS, map(int, digits), strict=True))


@pytest.mark.parametrize(
    ("state", "index"),
    [
        ("11111", 1.0),  # full health: nothing subtracted
        ("55555", -0.453),  # 1 − (0.205 + 0.206 + 0.179 + 0.391 + 0.472)
        ("21345", 0.137072),  # 1 − (0.03116 + 0 + 0.056743 + 0.303025 + 0.472)
        ("12345", 0.13692),  # 1 − (0 + 0.031312 + 0.056743 + 0.303025 + 0.472)
        ("54321", 0.519175),  # 1 − (0.205 + 0.15965 + 0.056743 + 0.059432 + 0)
        ("33333", 0.539399),  # 1 − (0.064985 + 0.065302 + 0.056743 + 0.123947 + 0.149624)
        ("11112", 0.928256),  # 1 − 0.071744: the largest level-2 decrement
        ("21111", 0.96884),  # 1 − 0.03116
    ],
)
def test_eq5d5l_norwegian_index(state: str, index: float) -> None:
    result = score("eq5d5l", _state(state), version=NORWAY)
    assert result == Score("eq5d5l", NORWAY, index, "Norway, Garratt et al. 2024", ())
    assert eq5d5l.health_state(_state(state)) == state


def test_eq5d5l_index_is_monotone_in_every_dimension() -> None:
    """A worse level in any one dimension never raises the index (a property of the value set)."""
    for dimension in eq5d5l.DIMENSIONS:
        values = [
            float(score("eq5d5l", {**_state("33333"), dimension: level}, version=NORWAY).value or 0)
            for level in eq5d5l.LEVELS
        ]
        assert values == sorted(values, reverse=True), dimension


@pytest.mark.parametrize(
    ("answers", "missing"),
    [
        ({"mobility": 1, "selfcare": 1, "activities": 1, "pain": 1}, ("anxiety",)),
        ({"mobility": "", "selfcare": None, "activities": 2, "pain": 3, "anxiety": 1},
         ("mobility", "selfcare")),
        ({}, eq5d5l.DIMENSIONS),
    ],
)  # fmt: skip
def test_eq5d5l_gives_no_index_when_a_dimension_is_missing(
    answers: dict[str, object], missing: tuple[str, ...]
) -> None:
    result = score("eq5d5l", answers, version=NORWAY)
    assert result.value is None
    assert result.missing == missing


def test_answers_may_come_as_form_text() -> None:
    assert score("eq5d5l", dict.fromkeys(eq5d5l.DIMENSIONS, "1"), version=NORWAY).value == 1.0
    assert score("eq5d5l", dict.fromkeys(eq5d5l.DIMENSIONS, 5.0), version=NORWAY).value == -0.453


@pytest.mark.parametrize(
    ("answers", "mrs"),
    [
        ({"constant_care": 1}, 5),
        ({"constant_care": 0, "walk_unaided": 0}, 4),
        ({"constant_care": 0, "walk_unaided": 1, "own_affairs": 0}, 3),
        ({"constant_care": 0, "walk_unaided": 1, "own_affairs": 1, "usual_activities": 0}, 2),
        ({"constant_care": 0, "walk_unaided": 1, "own_affairs": 1, "usual_activities": 1,
          "symptoms": 1}, 1),
        ({"constant_care": 0, "walk_unaided": 1, "own_affairs": 1, "usual_activities": 1,
          "symptoms": 0}, 0),
        # Answers past the step that settles the grade do not change it.
        ({"constant_care": 1, "walk_unaided": 1, "own_affairs": 1, "usual_activities": 1,
          "symptoms": 0}, 5),
    ],
)  # fmt: skip
def test_simplified_mrs_decision_tree(answers: dict[str, object], mrs: int) -> None:
    result = score("mrs_simplified", answers, version="bruno-2010")
    assert (result.value, result.missing, result.value_set) == (mrs, (), None)


@pytest.mark.parametrize(
    ("answers", "missing"),
    [
        ({}, "constant_care"),
        ({"constant_care": 0, "own_affairs": 1}, "walk_unaided"),
        ({"constant_care": 0, "walk_unaided": 1, "own_affairs": 1, "usual_activities": 1},
         "symptoms"),
    ],
)  # fmt: skip
def test_simplified_mrs_never_guesses_past_a_missing_answer(
    answers: dict[str, object], missing: str
) -> None:
    result = score("mrs_simplified", answers, version="bruno-2010")
    assert (result.value, result.missing) == (None, (missing,))


@pytest.mark.parametrize(
    ("instrument", "version", "answers", "message"),
    [
        ("eq5d5l", "UK-2018", {}, "no scoring rule for instrument 'eq5d5l' version 'UK-2018'"),
        ("sf36", "1", {}, "known: eq5d5l NO-2024, mrs_simplified bruno-2010"),
        ("eq5d5l", NORWAY, {"mobility": 6}, "mobility is 6, not one of 1, 2, 3, 4, 5"),
        ("eq5d5l", NORWAY, {"mobility": "two"}, "mobility is 'two'"),
        ("eq5d5l", NORWAY, {"mobility": 1.5}, "mobility is 1.5"),
        ("eq5d5l", NORWAY, {"walking": 1}, "unknown item(s) walking"),
        ("mrs_simplified", "bruno-2010", {"constant_care": 2}, "not one of 0, 1"),
    ],
)
def test_unknown_instruments_versions_items_and_codes_are_refused(
    instrument: str, version: str, answers: dict[str, object], message: str
) -> None:
    with pytest.raises(ScoringError, match=message.replace("(", r"\(").replace(")", r"\)")):
        score(instrument, answers, version=version)


def test_every_rule_names_its_items_and_codes() -> None:
    for (instrument, version), rule in SCORERS.items():
        assert rule.items and rule.codes, (instrument, version)
        full = dict.fromkeys(rule.items, min(rule.codes))
        assert score(instrument, full, version=version).missing == ()
