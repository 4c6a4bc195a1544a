"""Patient questionnaires (PROM) of a registry: `registries/<key>/questionnaires.yaml`.

Each entry is one version of one questionnaire: its key and version, its title in bokmål,
nynorsk and English, its questions as a dictionary file in the format of `dictionary.csv`
(so the same loader, types, show-if logic and validation rules apply, see
docs/dictionary.md), the scored instruments it contains, when patients are invited, and
which registry variables record the response. docs/questionnaires.md documents the file.

A response is stored in the registration it follows up, under the questionnaire's variable
names, so the engine reads PROM answers and scores like any other variable. That is why
every question must name a variable of the registry's dictionary of the same type, and why
loading checks it: a questionnaire that could not be stored stops start-up, with every
problem of the file reported at once, like the dictionary's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from entry.dictionary import Dictionary, DictionaryError, Text, Variable, load_dictionary
from entry.dictionary_logic import has_number_codes
from entry.dictionary_model import CHOICE_TYPES, variable_types
from entry.expressions import ExpressionError, check, parse
from entry.record_rules import convert
from entry.scoring import ScoringError, scorer

QUESTIONNAIRES_FILE: Final = "questionnaires.yaml"
LANGUAGES: Final = ("nb", "nn", "en")
"""A patient chooses among all three, so every patient-facing text needs all three."""


class QuestionnaireError(ValueError):
    """Questionnaires that cannot be used; `problems` lists every problem of the file."""

    def __init__(self, source: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}:\n" + "\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatientText(_Strict):
    nb: str = Field(min_length=1)
    nn: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def text(self) -> Text:
        return Text(self.nb, self.en, self.nn)


class InstrumentUse(_Strict):
    """A scored instrument inside a questionnaire: which of its variables answer which item
    of the instrument, and the registry variable that stores the score."""

    version: str
    items: dict[str, str]
    """Instrument item → questionnaire variable."""
    score: str


class Reminders(_Strict):
    count: int = Field(default=0, ge=0)
    days_between: int = Field(default=7, ge=1)


class InvitationRule(_Strict):
    """When a registration's patient is invited: `days_after` days after the date in
    `date_variable`, if `when` (an expression over the registry's variables) is true then;
    the link expires `expires_after_days` after the invitation, with reminders before that."""

    date_variable: str
    days_after: int = Field(ge=0)
    when: str | None = None
    expires_after_days: int = Field(ge=1)
    reminders: Reminders = Reminders()


class ResponseVariables(_Strict):
    """The registry variables that record an invitation and a response.

    `invited` and `answered` are yes/no; `version` holds the questionnaire version answered,
    `date` the day of the answer, and `sets` gives fixed values written with every response
    (such as the follow-up's method: digital form).
    """

    invited: str
    answered: str
    version: str | None = None
    date: str | None = None
    sets: dict[str, int | float | str] = {}

    def names(self) -> tuple[str, ...]:
        named = (self.invited, self.answered, self.version, self.date, *self.sets)
        return tuple(name for name in named if name)


class _Entry(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1)
    title: PatientText
    dictionary: str
    instruments: dict[str, InstrumentUse] = {}
    invitation: InvitationRule
    response: ResponseVariables


@dataclass(frozen=True)
class Questionnaire:
    """One version of one patient questionnaire (`Questionnaire` in DESIGN.md's words)."""

    key: str
    version: int
    title: Text
    dictionary: Dictionary
    """The questions, all in one form named after the key; every text has nynorsk."""
    dictionary_path: Path
    instruments: Mapping[str, InstrumentUse]
    invitation: InvitationRule
    response: ResponseVariables

    @property
    def questions(self) -> tuple[Variable, ...]:
        """The variables that take an answer (descriptive text is shown, not answered)."""
        return tuple(v for v in self.dictionary.variables if v.value_type is not None)


def load_questionnaires(folder: Path, registry_dictionary: Dictionary) -> dict[str, Questionnaire]:
    """The newest version of each questionnaire of a registry folder, by key."""
    every = sorted(read_questionnaires(folder, registry_dictionary), key=lambda q: q.version)
    return {questionnaire.key: questionnaire for questionnaire in every}


def read_questionnaires(folder: Path, registry_dictionary: Dictionary) -> tuple[Questionnaire, ...]:
    """Every version of every questionnaire in `folder/questionnaires.yaml`, checked against
    the registry's dictionary; none when the file is absent. Raises `QuestionnaireError`."""
    path = folder / QUESTIONNAIRES_FILE
    if not path.exists():
        return ()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise QuestionnaireError(path, [f"cannot read the file: {error}"]) from error
    if not isinstance(raw, list):
        raise QuestionnaireError(path, ["expected a list of questionnaires"])
    problems: list[str] = []
    found: list[Questionnaire] = []
    for position, entry in enumerate(raw):
        questionnaire = _read_entry(folder, entry, position, registry_dictionary, problems)
        if questionnaire is not None:
            found.append(questionnaire)
    pairs = [(e.get("key"), e.get("version")) for e in raw if isinstance(e, dict)]
    problems += [
        f"questionnaire {key} v{version}: given more than once"
        for key, version in sorted(set(pairs), key=str)
        if pairs.count((key, version)) > 1
    ]
    if problems:
        raise QuestionnaireError(path, problems)
    return tuple(found)


def _read_entry(
    folder: Path,
    raw: object,
    position: int,
    registry: Dictionary,
    problems: list[str],
) -> Questionnaire | None:
    name = f"#{position + 1}"
    if isinstance(raw, dict) and "key" in raw:
        name = f"{raw['key']} v{raw.get('version', '?')}"
    try:
        entry = _Entry.model_validate(raw)
    except ValidationError as error:
        problems += [
            f"questionnaire {name}: {'.'.join(map(str, e['loc'])) or '(entry)'}: {e['msg']}"
            for e in error.errors()
        ]
        return None
    found: list[str] = []
    dictionary_path = _dictionary_path(folder, entry.dictionary, found)
    questions = _read_questions(dictionary_path, found) if dictionary_path else None
    if questions is not None:
        found += _question_problems(entry.key, questions, registry)
        found += _instrument_problems(entry.instruments, questions, registry)
        found += _response_problems(entry.response, questions, registry)
    found += _invitation_problems(entry.invitation, registry)
    problems += [f"questionnaire {name}: {problem}" for problem in found]
    if found or questions is None or dictionary_path is None:
        return None
    return Questionnaire(
        key=entry.key,
        version=entry.version,
        title=entry.title.text(),
        dictionary=questions,
        dictionary_path=dictionary_path,
        instruments=entry.instruments,
        invitation=entry.invitation,
        response=entry.response,
    )


def _dictionary_path(folder: Path, relative: str, problems: list[str]) -> Path | None:
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()):
        problems.append(f"dictionary: {relative!r} is outside the registry folder")
        return None
    if not path.is_file():
        problems.append(f"dictionary: {relative}: file not found")
        return None
    return path


def _read_questions(path: Path, problems: list[str]) -> Dictionary | None:
    try:
        return load_dictionary(path)
    except DictionaryError as error:
        problems += [f"dictionary: {path.name}: {problem}" for problem in error.problems]
        return None


def _question_problems(key: str, questions: Dictionary, registry: Dictionary) -> list[str]:
    """One form named after the questionnaire, nynorsk everywhere, and a registry variable of
    the same type (and with every answer code) for each question."""
    problems: list[str] = []
    for variable in questions.variables:
        where = f"dictionary: row {variable.row}, {variable.name}"
        if variable.form != key:
            problems.append(f"{where}: form {variable.form!r}, expected {key!r}")
        problems += [f"{where}: {text} missing in nynorsk" for text in _without_nynorsk(variable)]
        if variable.type == "descriptive":
            continue
        if variable.type == "calculated":
            problems.append(f"{where}: a questionnaire asks; calculations belong to the registry")
            continue
        try:
            stored = registry.variable(variable.name)
        except KeyError:
            problems.append(f"{where}: not a variable of the registry's dictionary")
            continue
        if stored.type != variable.type:
            problems.append(f"{where}: {variable.type} here, {stored.type} in the registry")
        elif variable.type in CHOICE_TYPES:
            extra = sorted({c.code for c in variable.choices} - {c.code for c in stored.choices})
            if extra:
                problems.append(f"{where}: codes {', '.join(extra)} are not in the registry")
    return problems


def _without_nynorsk(variable: Variable) -> Iterable[str]:
    texts = {"label": variable.label, "section": variable.section, "help": variable.help}
    yield from (name for name, text in texts.items() if text is not None and text.nn is None)
    if any(choice.label.nn is None for choice in variable.choices):
        yield "choices"
    if any(rule.message.nn is None for rule in variable.validations):
        yield "message"


def _instrument_problems(
    instruments: Mapping[str, InstrumentUse], questions: Dictionary, registry: Dictionary
) -> list[str]:
    problems: list[str] = []
    types = variable_types(registry)
    for name, use in instruments.items():
        where = f"instruments.{name}"
        try:
            rule = scorer(name, use.version)
        except ScoringError as error:
            problems.append(f"{where}: {error}")
            continue
        for item in sorted(set(rule.items) - set(use.items)):
            problems.append(f"{where}.items: item {item!r} has no question")
        for item, variable_name in use.items.items():
            if item not in rule.items:
                problems.append(f"{where}.items: {name} has no item {item!r}")
                continue
            try:
                variable = questions.variable(variable_name)
            except KeyError:
                problems.append(f"{where}.items.{item}: no question {variable_name!r}")
                continue
            codes = _answer_codes(variable)
            if codes is None or not codes <= {str(code) for code in rule.codes}:
                allowed = ", ".join(map(str, sorted(rule.codes)))
                problems.append(
                    f"{where}.items.{item}: {variable_name} must be answered by codes {allowed}"
                )
        if types.get(use.score) != "number" or registry.variable(use.score).type == "calculated":
            problems.append(
                f"{where}.score: {use.score!r} is not a number variable of the registry"
            )
        elif use.score in {v.name for v in questions.variables}:
            problems.append(f"{where}.score: {use.score} is also a question")
    return problems


def _answer_codes(variable: Variable) -> set[str] | None:
    """The codes a question can be answered with, or None when it is not a coded question."""
    if variable.type == "yesno":
        return {"0", "1"}
    if variable.type == "single" and has_number_codes(variable):
        return {choice.code for choice in variable.choices}
    return None


def _is_value_of(variable: Variable, value: object) -> bool:
    try:
        converted = convert(variable, value)
    except ValueError:
        return False
    codes = _answer_codes(variable)
    return converted is not None and (codes is None or str(converted) in codes)


def _invitation_problems(rule: InvitationRule, registry: Dictionary) -> list[str]:
    problems: list[str] = []
    types = variable_types(registry)
    if types.get(rule.date_variable) != "date":
        problems.append(
            f"invitation.date_variable: {rule.date_variable!r} is not a date variable "
            "of the registry"
        )
    if rule.when is not None:
        try:
            check(parse(rule.when), types, expect="boolean")
        except ExpressionError as error:
            problems.append(f"invitation.when: {error.message} at position {error.position}")
    last_reminder = rule.reminders.count * rule.reminders.days_between
    if last_reminder >= rule.expires_after_days:
        problems.append(
            f"invitation.reminders: the last reminder (day {last_reminder}) comes after the "
            f"link expires (day {rule.expires_after_days})"
        )
    return problems


def _response_problems(
    response: ResponseVariables, questions: Dictionary, registry: Dictionary
) -> list[str]:
    problems: list[str] = []
    wanted = {
        "invited": (response.invited, "yesno"),
        "answered": (response.answered, "yesno"),
        "version": (response.version, "integer"),
        "date": (response.date, "date"),
    }
    for key, (name, kind) in wanted.items():
        if name is None:
            continue
        try:
            found = registry.variable(name).type
        except KeyError:
            problems.append(f"response.{key}: {name!r} is not a variable of the registry")
            continue
        if found != kind:
            problems.append(f"response.{key}: {name} is {found}, expected {kind}")
    for name, value in response.sets.items():
        try:
            variable = registry.variable(name)
        except KeyError:
            problems.append(f"response.sets: {name!r} is not a variable of the registry")
            continue
        if not _is_value_of(variable, value):
            problems.append(f"response.sets: {value!r} is not a value of {name}")
    asked = {v.name for v in questions.variables}
    problems += [
        f"response: {name} is also a question" for name in response.names() if name in asked
    ]
    return problems
