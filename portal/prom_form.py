"""A patient questionnaire as pages of questions, from its dictionary and the answers so far.

The patient pages work without JavaScript (phones, screen readers, old browsers), so
show-if logic is decided on the server: a question is shown only when its condition is
true for the answers given so far, and a question whose condition reads an answer not yet
given stays hidden until that answer is saved. Each section of the questionnaire is one
page; "Next" saves the page and shows the questions it revealed on the same page, or moves
on. Everything here is pure: the views (`portal.prom_pages`) read and write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from entry.dictionary_model import Variable
from entry.questionnaires import Questionnaire
from entry.record_rules import Issue, RecordCheck, check_values, read_document
from portal.form_values import WidgetValue, raw_value, takes_input, widget_value
from portal.i18n import number as format_number
from portal.i18n import translate

Kind = Literal["radio", "checkbox", "text", "textarea", "descriptive"]
_NUMERIC = {"integer": "numeric", "decimal": "decimal"}
_FORMAT_HINTS = {
    "date": "prom.hint.date",
    "datetime": "prom.hint.datetime",
    "time": "prom.hint.time",
}


@dataclass(frozen=True)
class Question:
    """One question as the page draws it, in the patient's language."""

    name: str
    kind: Kind
    label: str
    help: str | None
    hint: str | None
    required: bool
    choices: tuple[tuple[str, str], ...]
    value: WidgetValue
    errors: tuple[str, ...]
    input_mode: str | None = None
    section: str | None = None
    """The heading of the section this question opens, if it opens one."""

    @property
    def first_input_id(self) -> str:
        """Where an error summary's link takes the reader: the question's first input."""
        if self.kind in ("radio", "checkbox") and self.choices:
            return f"{self.name}-{self.choices[0][0]}"
        return self.name


@dataclass(frozen=True)
class Page:
    number: int
    questions: tuple[Question, ...]


def page_variables(questionnaire: Questionnaire) -> tuple[tuple[Variable, ...], ...]:
    """The questionnaire's variables cut into pages, a new page at each new section."""
    pages: list[list[Variable]] = []
    for variable in questionnaire.dictionary.variables:
        if not pages or (variable.section is not None and any(takes_input(v) for v in pages[-1])):
            pages.append([])
        pages[-1].append(variable)
    return tuple(tuple(page) for page in pages)


def stored_answers(document: Mapping[str, object]) -> dict[str, object]:
    """A saved response document as raw answers (the form of `check_values`' input)."""
    values, _ = read_document(document)
    return values


def posted_answers(
    variables: Sequence[Variable], form: Mapping[str, list[str]]
) -> dict[str, object]:
    """The raw answers a page's form posted (`form` as `MultiDict.to_dict(flat=False)`), one
    per question of the page: a question not posted (hidden, or left blank) is None."""
    answers: dict[str, object] = {}
    for variable in variables:
        if takes_input(variable):
            given = form.get(variable.name, [])
            shown = given if variable.type == "multiple" else (given[0] if given else None)
            answers[variable.name] = raw_value(variable, shown)
    return answers


def check(questionnaire: Questionnaire, answers: Mapping[str, object]) -> RecordCheck:
    """The answers read and checked as a draft: which questions show, what is unreadable."""
    return check_values(questionnaire.dictionary, answers)


def visible(variables: Sequence[Variable], checked: RecordCheck) -> tuple[Variable, ...]:
    return tuple(v for v in variables if v.name not in checked.skipped)


def storable_answers(questionnaire: Questionnaire, answers: Mapping[str, object]) -> RecordCheck:
    """The answers that can be kept: input that cannot be read as its type is left out."""
    first = check(questionnaire, answers)
    unreadable = {issue.variable for issue in first.errors if issue.blocks_draft}
    if not unreadable:
        return first
    return check(questionnaire, {k: v for k, v in answers.items() if k not in unreadable})


def build_page(
    number: int,
    variables: Sequence[Variable],
    answers: Mapping[str, object],
    shown_values: Mapping[str, object],
    issues: Sequence[Issue],
    checked: RecordCheck,
    language: str,
) -> Page:
    """Page `number` with its visible questions, their values and their errors.

    `shown_values` overrides what a widget shows (what the patient typed, even unreadable);
    otherwise a widget shows the saved answer.
    """
    errors: dict[str, list[str]] = {}
    for issue in issues:
        errors.setdefault(issue.variable, []).append(issue.message.in_language(language))
    questions = tuple(
        _question(v, answers, shown_values, tuple(errors.get(v.name, ())), language)
        for v in visible(variables, checked)
    )
    return Page(number, questions)


def _question(
    variable: Variable,
    answers: Mapping[str, object],
    shown_values: Mapping[str, object],
    errors: tuple[str, ...],
    language: str,
) -> Question:
    # Widgets write numbers the Norwegian way in both written standards.
    number_language = "en" if language == "en" else "nb"
    value: WidgetValue
    if variable.name in shown_values:
        raw = shown_values[variable.name]
        value = (
            [str(x) for x in raw] if isinstance(raw, list) else None if raw is None else str(raw)
        )
    else:
        value = widget_value(variable, answers.get(variable.name), number_language)
    kind: Kind
    choices: tuple[tuple[str, str], ...] = ()
    if variable.type == "descriptive":
        kind = "descriptive"
    elif variable.type == "yesno":
        kind = "radio"
        choices = (("1", translate("prom.yes", language)), ("0", translate("prom.no", language)))
    elif variable.type in ("single", "multiple"):
        kind = "radio" if variable.type == "single" else "checkbox"
        choices = tuple((c.code, c.label.in_language(language)) for c in variable.choices)
    else:
        kind = "textarea" if variable.type == "notes" else "text"
    return Question(
        name=variable.name,
        kind=kind,
        label=variable.label.in_language(language),
        help=variable.help.in_language(language) if variable.help else None,
        hint=_hint(variable, language),
        required=variable.required,
        choices=choices,
        value=value,
        errors=errors,
        input_mode=_NUMERIC.get(variable.type),
        section=variable.section.in_language(language) if variable.section else None,
    )


def _hint(variable: Variable, language: str) -> str | None:
    if variable.type in _FORMAT_HINTS:
        return translate(_FORMAT_HINTS[variable.type], language)
    if variable.type in _NUMERIC and variable.minimum is not None and variable.maximum is not None:
        decimals = 0 if variable.type == "integer" else 1
        low, high = (
            format_number(float(bound), "en" if language == "en" else "nb", decimals)  # type: ignore[arg-type]
            for bound in (variable.minimum, variable.maximum)
        )
        return translate("prom.hint.range", language, low=low, high=high)
    return None
