"""What the codebook says about each variable, as plain text in the reader's language.

The page and the Excel download show the same facts, so both read them from here: the type
in words, the choices as "code = label", the bounds, the show-if logic and validation rules
in words, and which indicators read the variable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time

from entry.dictionary import Bound, Variable
from entry.expressions import parse, variables_of
from entry.registry_folder import RegistryFolder
from indicators import Indicator
from portal.components.logic_words import in_words
from portal.i18n import translate

VERSION_LENGTH = 12
"""Hex digits of the SHA-256 shown as the dictionary's version: plenty to tell files apart."""


@dataclass(frozen=True)
class VariableFacts:
    name: str
    form: str
    label: str
    type: str
    choices: tuple[str, ...]
    unit: str
    bounds: str
    required: str
    shown_when: str
    shown_when_expression: str
    validations: tuple[str, ...]
    indicators: tuple[str, ...]


def dictionary_version(content: bytes) -> str:
    """A short SHA-256 of the file's bytes: the same file always gives the same version."""
    return hashlib.sha256(content).hexdigest()[:VERSION_LENGTH]


def indicators_by_variable(indicators: tuple[Indicator, ...]) -> dict[str, tuple[Indicator, ...]]:
    """For each variable, the indicators whose denominator, numerator, value or risk model
    reads it directly (a calculated variable's inputs are not followed)."""
    users: dict[str, list[Indicator]] = {}
    for indicator in indicators:
        names: set[str] = set()
        for text in (indicator.denominator, indicator.numerator, indicator.value):
            if text:
                names |= variables_of(parse(text))
        model = indicator.risk_model
        if model is not None:
            names |= set(model.covariates) | set(model.categorical)
            if model.expected:
                names |= variables_of(parse(model.expected))
        for name in names:
            users.setdefault(name, []).append(indicator)
    return {name: tuple(found) for name, found in users.items()}


def registry_facts(registry: RegistryFolder, language: str) -> tuple[VariableFacts, ...]:
    """The facts of every variable of the registry's dictionary, in dictionary order."""
    variables = {v.name: v for v in registry.dictionary.variables}
    users = indicators_by_variable(registry.indicators)
    return tuple(
        variable_facts(v, language, variables, users.get(v.name, ()))
        for v in registry.dictionary.variables
    )


def variable_facts(
    variable: Variable,
    language: str,
    variables: Mapping[str, Variable],
    indicators: tuple[Indicator, ...] = (),
) -> VariableFacts:
    return VariableFacts(
        name=variable.name,
        form=variable.form,
        label=variable.label.in_language(language),
        type=type_words(variable, language),
        choices=choices_text(variable, language),
        unit=variable.unit or "",
        bounds=bounds_text(variable, language),
        required=translate("codebook.yes" if variable.required else "codebook.no", language),
        shown_when=in_words(variable.show_if, language, variables) if variable.show_if else "",
        shown_when_expression=variable.show_if_text or "",
        validations=tuple(
            translate(
                f"codebook.rule.{rule.severity}",
                language,
                rule=in_words(rule.expression, language, variables),
                message=rule.message.in_language(language),
            )
            for rule in variable.validations
        ),
        indicators=tuple(i.title.in_language(language) for i in indicators),
    )


def type_words(variable: Variable, language: str) -> str:
    words = translate(f"codebook.type.{variable.type}", language)
    if variable.calculation_text:
        words += f" ({translate('codebook.calculated_as', language)} {variable.calculation_text})"
    return words


def choices_text(variable: Variable, language: str) -> tuple[str, ...]:
    if variable.type == "yesno":
        return (
            f"1 = {translate('codebook.yes', language)}",
            f"0 = {translate('codebook.no', language)}",
        )
    return tuple(f"{c.code} = {c.label.in_language(language)}" for c in variable.choices)


def bounds_text(variable: Variable, language: str) -> str:
    low, high = variable.minimum, variable.maximum
    if low is not None and high is not None:
        return f"{_bound(low, language)}–{_bound(high, language)}"
    if low is not None:
        return f"≥ {_bound(low, language)}"
    if high is not None:
        return f"≤ {_bound(high, language)}"
    return ""


def _bound(value: Bound, language: str) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text.replace(".", ",") if language == "nb" else text
