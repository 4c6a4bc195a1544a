"""A patient's answers turned into registration values: checked, scored and ready to store.

The answers of a questionnaire are stored in the registration it follows up (see
docs/questionnaires.md, "Where answers are stored"), so the engine sees them as variables.
Whoever receives a response (the patient pages) calls `answers_to_values` and writes its
result through `data_access.record_commands.update_registration`, like any other change:
the registry's own rules then check the whole registration once more. Everything here is
pure: the caller gives the day of the answer and the stored document.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from entry.dictionary_model import Dictionary
from entry.expressions import evaluate, parse
from entry.questionnaires import Questionnaire
from entry.record_rules import RecordCheck, check_values, read_document
from entry.scoring import Score, score


class AnswersRejected(ValueError):  # noqa: N818 - a refusal, not a fault
    """Answers that break the questionnaire's rules; `check.errors` holds one `Issue` per
    problem, each naming its question, with the message in bokmål, nynorsk and English
    where the questionnaire gives them."""

    def __init__(self, check: RecordCheck) -> None:
        self.check = check
        super().__init__("; ".join(f"{i.variable}: {i.message.en}" for i in check.errors))


def check_answers(questionnaire: Questionnaire, answers: Mapping[str, object]) -> RecordCheck:
    """The answers read by the questionnaire's types, show-if logic applied (a question
    hidden by an earlier answer is blank), and every rule checked as for completion:
    required questions, choices, bounds and validation rules. Warnings do not block: a
    patient has no one to acknowledge them to."""
    return check_values(questionnaire.dictionary, answers, target_status="complete")


def scores(questionnaire: Questionnaire, values: Mapping[str, object]) -> dict[str, Score]:
    """Each instrument's score from checked answer values, by instrument."""
    return {
        name: score(
            name,
            {item: values.get(question) for item, question in use.items.items()},
            version=use.version,
        )
        for name, use in questionnaire.instruments.items()
    }


def answers_to_values(
    questionnaire: Questionnaire, answers: Mapping[str, object], answered_on: date
) -> dict[str, object]:
    """The registration values of one response: every question (None where blank, so an
    answer given before and now hidden is cleared), each instrument's score under its
    `score` variable (None when answers it needs are missing), and the response variables:
    invited and answered 1, the questionnaire's version, `answered_on`, and the fixed
    `sets`. Raises `AnswersRejected` when the answers break the questionnaire's rules.
    """
    check = check_answers(questionnaire, answers)
    if check.errors:
        raise AnswersRejected(check)
    values: dict[str, object] = {q.name: check.values.get(q.name) for q in questionnaire.questions}
    for name, result in scores(questionnaire, check.values).items():
        values[questionnaire.instruments[name].score] = result.value
    response = questionnaire.response
    values |= invitation_values(questionnaire) | {response.answered: 1}
    if response.version:
        values[response.version] = questionnaire.version
    if response.date:
        values[response.date] = answered_on
    return values | dict(response.sets)


def invitation_values(questionnaire: Questionnaire) -> dict[str, object]:
    """The registration values that record an invitation sent."""
    return {questionnaire.response.invited: 1}


def invitation_due(
    questionnaire: Questionnaire, registry_dictionary: Dictionary, document: Mapping[str, object]
) -> date | None:
    """The day the patient of a stored registration is to be invited, or None when the
    invitation rule's condition is not true (false or unknown) or its date is blank.

    `document` is the registration's stored JSON document; it is read by the registry's
    dictionary, so show-if logic and calculations are those of the registration itself.
    """
    rule = questionnaire.invitation
    stored, _ = read_document(document)
    values = check_values(registry_dictionary, stored).values
    start = values.get(rule.date_variable)
    if not isinstance(start, date):
        return None
    if rule.when is not None and evaluate(parse(rule.when), values) is not True:
        return None
    return start + timedelta(days=rule.days_after)
