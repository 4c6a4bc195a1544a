"""Show-if logic and validation rules in words, in bokmål and English."""

from __future__ import annotations

import re

import pytest

from entry.dictionary import Choice, Text, Variable
from entry.expressions import parse
from portal.components.logic_words import expression_text, in_words

VARIABLES = {
    v.name: v
    for v in (
        Variable(
            "stroke_type", "admission", 2, "single", Text("Type hjerneslag", "Type of stroke"),
            choices=(
                Choice("1", Text("Hjerneinfarkt", "Ischaemic stroke")),
                Choice("2", Text("Hjerneblødning", "Haemorrhage")),
            ),
            value_type="number",
        ),
        Variable(
            "thrombolysis", "admission", 3, "yesno", Text("Trombolyse", "Thrombolysis"),
            value_type="number",
        ),
        Variable(
            "onset", "admission", 4, "datetime", Text("Symptomdebut", "Onset"),
            value_type="datetime",
        ),
        Variable(
            "arrival", "admission", 5, "datetime", Text("Ankomst", "Arrival"),
            value_type="datetime",
        ),
        Variable("glucose", "admission", 6, "decimal", Text("Glukose", "Glucose"),
                 value_type="number"),
    )
}  # fmt: skip

CASES = [
    ("thrombolysis = 1", "«Trombolyse» er ja", "“Thrombolysis” is yes"),
    ("thrombolysis = 0", "«Trombolyse» er nei", "“Thrombolysis” is no"),
    (
        "stroke_type = 1 and thrombolysis = 0",
        "«Type hjerneslag» er «Hjerneinfarkt» (1) og «Trombolyse» er nei",
        "“Type of stroke” is “Ischaemic stroke” (1) and “Thrombolysis” is no",
    ),
    (
        "stroke_type <> 2",
        "«Type hjerneslag» er ikke «Hjerneblødning» (2)",
        "“Type of stroke” is not “Haemorrhage” (2)",
    ),
    (
        "stroke_type in (1, 2)",
        "«Type hjerneslag» er en av: «Hjerneinfarkt» (1), «Hjerneblødning» (2)",
        "“Type of stroke” is one of: “Ischaemic stroke” (1), “Haemorrhage” (2)",
    ),
    (
        "onset <= arrival",
        "«Symptomdebut» er samme tid som eller før «Ankomst»",
        "“Onset” is on or before “Arrival”",
    ),
    ("onset > arrival", "«Symptomdebut» er etter «Ankomst»", "“Onset” is after “Arrival”"),
    ("glucose >= 2.5", "«Glukose» er minst 2,5", "“Glucose” is at least 2.5"),
    ("30 > glucose", "«Glukose» er under 30", "“Glucose” is less than 30"),
    ("isblank(glucose)", "«Glukose» er tom", "“Glucose” is blank"),
    ("not isblank(glucose)", "«Glukose» er fylt ut", "“Glucose” is filled in"),
    (
        "thrombolysis = 1 or (stroke_type = 2 and glucose < 5)",
        "«Trombolyse» er ja eller («Type hjerneslag» er «Hjerneblødning» (2)"
        " og «Glukose» er under 5)",
        "“Thrombolysis” is yes or (“Type of stroke” is “Haemorrhage” (2)"
        " and “Glucose” is less than 5)",
    ),
    ("not (glucose = 1)", "ikke («Glukose» er 1)", "not (“Glucose” is 1)"),
    (
        "datediff(onset, arrival, 'minutes') <= 60",
        "datediff(onset, arrival, 'minutes') er høyst 60",
        "datediff(onset, arrival, 'minutes') is at most 60",
    ),
    ("unknown_name = 'x'", "unknown_name er «x»", "unknown_name is “x”"),
]


@pytest.mark.parametrize(("text", "bokmal", "english"), CASES, ids=[c[0] for c in CASES])
def test_expression_in_words(text: str, bokmal: str, english: str) -> None:
    node = parse(text)
    assert in_words(node, "nb", VARIABLES) == bokmal
    assert in_words(node, "en", VARIABLES) == english


def test_without_a_dictionary_names_stand_for_labels() -> None:
    assert in_words(parse("a = 1 and b = 'x'"), "en") == "a is 1 and b is “x”"


@pytest.mark.parametrize(
    "text",
    [
        "a + b * 2 > 3",
        "(a + b) * 2 > 3",
        "not (a = 1 or b = 2)",
        "a not in (1, 2)",
        "round(a / 3, 1) = -2",
        "checked(c, 'x') and true",
    ],
)
def test_fallback_text_parses_back_to_the_same_tree(text: str) -> None:
    assert _shape(parse(expression_text(parse(text)))) == _shape(parse(text))


def _shape(node: object) -> str:
    """The tree without character positions, which brackets shift."""
    return re.sub(r"position=\d+", "", repr(node))
