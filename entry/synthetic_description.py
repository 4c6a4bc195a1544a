"""Reading a registry's `synthetic.yaml`: the distributions its demo data are drawn from.

A registry that offers demo data without writing Python describes them in `synthetic.yaml`
(registries/hipfracture/synthetic.yaml is the worked example):
which units register, the period, coverage, planted per-unit effects, and per variable a
distribution, drawn in the order written so a distribution may use the variables above it.
Reading is strict and pure: every problem is reported at once, each naming the file, the
variable and the reason, and expressions are checked against the dictionary's types, so a
description that reads cleanly can only generate values of the right type and codes.
`entry.synthetic_data` draws the data.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

import yaml

from entry.dictionary import Dictionary, variable_types
from entry.expressions import ExpressionError, Node, ValueType, check, parse
from entry.questionnaires import Questionnaire

DESCRIPTION_FILE: Final = "synthetic.yaml"
KINDS: Final = (
    "categorical", "logistic", "ordinal", "normal", "lognormal", "uniform", "offset",
    "expression", "constant",
)  # fmt: skip
"""The distributions a variable (or one case of it) may take; exactly one per case."""
OFFSET_UNITS: Final = {"minutes": 1, "hours": 60, "days": 1440}
"""Minutes per unit of an offset from a date or datetime."""
DAYS_OBSERVED: Final = "_days_observed"
"""A built-in number: days from the event date to the last date of the data."""
UNIT_LEVELS: Final = ("region", "trust", "hospital", "department")
_CASE_KEYS: Final = frozenset({"when", *KINDS})
_VARIABLE_KEYS: Final = _CASE_KEYS | {"cases", "blank", "min", "max", "round", "censor"}
_NUMBER_TYPES: Final = frozenset({"integer", "decimal", "yesno", "single"})


class SyntheticDescriptionError(ValueError):
    """A description that cannot be used; `problems` lists every problem of the file."""

    def __init__(self, source: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}:\n" + "\n".join(problems))


@dataclass(frozen=True)
class Linear:
    """A linear predictor: terms (expression → coefficient) plus a planted unit effect."""

    terms: tuple[tuple[Node, float], ...] = ()
    effect: str | None = None


@dataclass(frozen=True)
class Case:
    """One way of drawing a variable, used on the rows where `when` is true (all if None)."""

    kind: str
    spec: Mapping[str, Any]
    """The distribution's own parameters, as written (checked)."""
    linear: Linear = field(default_factory=Linear)
    when: Node | None = None
    node: Node | None = None
    """The expression of an `expression` case or of an offset's amount."""
    inner: Case | None = None
    """An offset's amount, itself a numeric case."""


@dataclass(frozen=True)
class VariableDescription:
    name: str
    cases: tuple[Case, ...]
    value_type: ValueType
    """What the drawn values are: number, date or datetime."""
    blank: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    decimals: int | None = None
    censor: bool = False
    """Dates after the last date of the data are blank (not yet happened)."""


@dataclass(frozen=True)
class PromDescription:
    questionnaire: Questionnaire
    response: Linear
    intercept: float
    answer_within_days: int


@dataclass(frozen=True)
class SyntheticDescription:
    path: Path
    unit_level: str
    volume_sigma: float
    first_year: int
    last_date: date
    coverage: tuple[float, float]
    effects: Mapping[str, float]
    """Planted per-unit effects by name: the standard deviation of each (log scale)."""
    variables: tuple[VariableDescription, ...]
    patient_age: str
    patient_sex: str
    female_code: int
    draft_share: float
    locked_share: float
    prom: PromDescription | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    """The file as read, written into the truth file beside the planted effects."""


def read_description(
    folder: Path,
    dictionary: Dictionary,
    event_date_variable: str,
    questionnaires: tuple[Questionnaire, ...] = (),
) -> SyntheticDescription:
    """The folder's `synthetic.yaml`, checked against its dictionary and questionnaires."""
    path = folder / DESCRIPTION_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SyntheticDescriptionError(path, [f"cannot be read: {error}"]) from error
    return parse_description(raw, path, dictionary, event_date_variable, questionnaires)


def parse_description(
    raw: object,
    path: Path,
    dictionary: Dictionary,
    event_date_variable: str,
    questionnaires: tuple[Questionnaire, ...] = (),
) -> SyntheticDescription:
    """`raw` (a YAML mapping) checked; `path` only names the file in problems."""
    reader = _Reader(dictionary, event_date_variable)
    if not isinstance(raw, dict):
        raise SyntheticDescriptionError(path, ["expected a mapping at the top level"])
    units = reader.mapping(raw, "units", "units")
    period = reader.mapping(raw, "period", "period")
    coverage = reader.mapping(raw, "coverage", "coverage")
    patient = reader.mapping(raw, "patient", "patient")
    status = reader.mapping(raw, "status", "status")
    effects = {str(k): reader.number(v, f"effects: {k}", low=0) for k, v in _items(raw, "effects")}
    reader.effects = set(effects)
    level = str(units.get("level", "department"))
    if level not in UNIT_LEVELS:
        reader.problems.append(f"units: level {level!r} is not one of {', '.join(UNIT_LEVELS)}")
    variables = reader.variables(raw.get("variables"))
    prom = reader.prom(raw.get("prom"), questionnaires)
    for key in ("age", "sex"):
        name = patient.get(key)
        if name not in reader.types:
            reader.problems.append(f"patient: {key}: {name!r} is not a described variable")
    if reader.problems:
        raise SyntheticDescriptionError(path, reader.problems)
    last_date = period.get("last_date")
    return SyntheticDescription(
        path=path,
        unit_level=level,
        volume_sigma=reader.number(units.get("volume_sigma", 0.7), "units: volume_sigma", low=0),
        first_year=int(period.get("first_year", 2021)),
        last_date=last_date if isinstance(last_date, date) else date(2026, 10, 31),
        coverage=(float(coverage.get("min", 0.85)), float(coverage.get("max", 0.98))),
        effects=effects,
        variables=variables,
        patient_age=str(patient["age"]),
        patient_sex=str(patient["sex"]),
        female_code=int(patient.get("female", 2)),
        draft_share=float(status.get("draft", 0.0)),
        locked_share=float(status.get("locked", 0.0)),
        prom=prom,
        raw=raw,
    )


def _items(raw: Mapping[str, Any], key: str) -> list[tuple[Any, Any]]:
    value = raw.get(key) or {}
    return list(value.items()) if isinstance(value, dict) else []


class _Reader:
    """Collects problems while reading; `types` grows as variables are described, so an
    expression may only use the variables above it."""

    def __init__(self, dictionary: Dictionary, event_date_variable: str) -> None:
        self.dictionary = {v.name: v for v in dictionary.variables}
        self.event_date_variable = event_date_variable
        self.all_types = variable_types(dictionary)
        self.types: dict[str, ValueType] = {event_date_variable: "date", DAYS_OBSERVED: "number"}
        self.effects: set[str] = set()
        self.problems: list[str] = []

    def mapping(self, raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            self.problems.append(f"{where}: expected a mapping")
            return {}
        return value

    def number(self, value: object, where: str, *, low: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.append(f"{where}: expected a number, not {value!r}")
            return 0.0
        if low is not None and value < low:
            self.problems.append(f"{where}: must be at least {low}")
        return float(value)

    def expression(self, text: object, where: str, expect: ValueType | None) -> Node | None:
        try:
            node = parse(str(text))
            found = check(node, self.types)
        except ExpressionError as error:
            self.problems.append(f"{where}: {error.message} at position {error.position}")
            return None
        if (
            expect is not None
            and found != expect
            and not (expect == "number" and found == "boolean")
        ):
            self.problems.append(f"{where}: gives {found}, not {expect}")
        return node

    def variables(self, raw: object) -> tuple[VariableDescription, ...]:
        if not isinstance(raw, dict) or not raw:
            self.problems.append("variables: expected a mapping of variable descriptions")
            return ()
        described = []
        for name, spec in raw.items():
            variable = self.variable(str(name), spec)
            if variable is not None:
                described.append(variable)
                self.types[variable.name] = self.all_types.get(variable.name, variable.value_type)
        return tuple(described)

    def variable(self, name: str, spec: object) -> VariableDescription | None:
        where = f"variable {name}"
        if name == self.event_date_variable:
            self.problems.append(f"{where}: is the event date, drawn by the generator")
            return None
        variable = self.dictionary.get(name)
        if variable is None and not name.startswith("_"):
            self.problems.append(f"{where}: not in the dictionary (helpers start with '_')")
            return None
        if variable is not None and (variable.type == "calculated" or variable.value_type is None):
            self.problems.append(f"{where}: a {variable.type} variable is not drawn")
            return None
        if not isinstance(spec, dict):
            self.problems.append(f"{where}: expected a mapping")
            return None
        unknown = sorted(set(spec) - _VARIABLE_KEYS)
        if unknown:
            self.problems.append(f"{where}: unknown keys {unknown}")
        raw_cases = spec.get("cases", [spec])
        if not isinstance(raw_cases, list) or not raw_cases:
            self.problems.append(f"{where}: cases: expected a list of cases")
            return None
        cases = [self.case(c, f"{where}: case {i + 1}" if "cases" in spec else where)
                 for i, c in enumerate(raw_cases)]  # fmt: skip
        if any(c is None for c in cases):
            return None
        checked = tuple(c for c in cases if c is not None)
        kinds = {self.value_type(c) for c in checked}
        if len(kinds) > 1:
            self.problems.append(f"{where}: cases give different types {sorted(kinds)}")
            return None
        value_type = kinds.pop()
        wanted = self.all_types.get(name, value_type)
        if wanted != value_type:
            self.problems.append(f"{where}: draws a {value_type}, the dictionary wants a {wanted}")
            return None
        if variable is not None and variable.type not in _NUMBER_TYPES | {"date", "datetime"}:
            self.problems.append(f"{where}: {variable.type} variables cannot be drawn")
            return None
        self.codes(name, checked, where)
        blank = self.number(spec.get("blank", 0.0), f"{where}: blank", low=0)
        bounds = [spec.get(k) for k in ("min", "max")]
        described = VariableDescription(
            name=name,
            cases=checked,
            value_type=value_type,
            blank=blank,
            minimum=None if bounds[0] is None else self.number(bounds[0], f"{where}: min"),
            maximum=None if bounds[1] is None else self.number(bounds[1], f"{where}: max"),
            decimals=spec.get("round"),
            censor=bool(spec.get("censor", False)),
        )
        self.bounds(described, where)
        return described

    def case(self, raw: object, where: str, *, inner: bool = False) -> Case | None:
        if not isinstance(raw, dict):
            self.problems.append(f"{where}: expected a mapping")
            return None
        kinds = [k for k in KINDS if k in raw]
        if len(kinds) != 1:
            self.problems.append(f"{where}: needs exactly one of {', '.join(KINDS)}")
            return None
        kind = kinds[0]
        spec = raw[kind]
        when = None if inner or "when" not in raw else self.expression(
            raw["when"], f"{where}: when", "boolean"
        )  # fmt: skip
        linear = self.linear(spec, f"{where}: {kind}") if isinstance(spec, dict) else Linear()
        node = None
        nested = None
        if kind == "expression":
            node = self.expression(spec, f"{where}: expression", "number")
        elif kind == "offset":
            nested = self.offset(spec, f"{where}: offset")
            if nested is None:
                return None
        elif not self.parameters(kind, spec, f"{where}: {kind}"):
            return None
        return Case(kind, spec if isinstance(spec, dict) else {"value": spec}, linear, when,
                    node, nested)  # fmt: skip

    def offset(self, spec: object, where: str) -> Case | None:
        if not isinstance(spec, dict):
            self.problems.append(f"{where}: expected a mapping")
            return None
        base = spec.get("from")
        if self.types.get(str(base)) not in ("date", "datetime"):
            self.problems.append(f"{where}: from: {base!r} is not a date or datetime above")
            return None
        unit = spec.get("unit", "days")
        if unit not in OFFSET_UNITS:
            self.problems.append(f"{where}: unit {unit!r} is not one of {', '.join(OFFSET_UNITS)}")
            return None
        amount = {k: v for k, v in spec.items() if k in KINDS}
        inner = self.case(amount, where, inner=True)
        if inner is not None and inner.kind == "offset":
            self.problems.append(f"{where}: an offset's amount cannot be an offset")
            return None
        return inner

    def value_type(self, case: Case) -> ValueType:
        if case.kind == "offset":
            # Whole days from a date are a date; minutes or hours from it are a datetime.
            base = self.types[str(case.spec["from"])]
            return (
                "date" if base == "date" and case.spec.get("unit", "days") == "days" else "datetime"
            )
        return "number"

    def linear(self, spec: Mapping[str, Any], where: str) -> Linear:
        terms = []
        raw_terms = spec.get("terms", {}) or {}
        if not isinstance(raw_terms, dict):
            self.problems.append(f"{where}: terms: expected expression: coefficient")
            raw_terms = {}
        for text, coefficient in raw_terms.items():
            node = self.expression(text, f"{where}: term {text!r}", "number")
            value = self.number(coefficient, f"{where}: term {text!r}")
            if node is not None:
                terms.append((node, value))
        effect = spec.get("effect")
        if effect is not None and effect not in self.effects:
            self.problems.append(f"{where}: effect {effect!r} is not one of the effects")
        return Linear(tuple(terms), None if effect is None else str(effect))

    def parameters(self, kind: str, spec: object, where: str) -> bool:
        needed = {
            "logistic": ("intercept",),
            "ordinal": ("codes", "cut_points"),
            "normal": ("mean", "sd"),
            "lognormal": ("median", "sigma"),
        }.get(kind, ())
        if kind == "uniform":
            ok = isinstance(spec, list) and len(spec) == 2 and spec[0] <= spec[1]
            if not ok:
                self.problems.append(f"{where}: expected [low, high]")
            return ok
        if kind == "constant":
            return True
        if kind == "categorical":
            return self.categorical(spec, where)
        if not isinstance(spec, dict) or any(k not in spec for k in needed):
            self.problems.append(f"{where}: needs {', '.join(needed)}")
            return False
        if kind == "ordinal" and len(spec["codes"]) != len(spec["cut_points"]) + 1:
            self.problems.append(f"{where}: needs one code more than cut points")
            return False
        if kind == "lognormal" and spec["median"] <= 0:
            self.problems.append(f"{where}: median must be positive")
            return False
        return True

    def categorical(self, spec: object, where: str) -> bool:
        if not isinstance(spec, dict):
            self.problems.append(f"{where}: expected code: probability")
            return False
        given = spec.get("given")
        tables = {k: v for k, v in spec.items() if k != "given"} if given else {None: spec}
        if given is not None and self.types.get(str(given)) != "number":
            self.problems.append(f"{where}: given: {given!r} is not a number variable above")
            return False
        for key, table in tables.items():
            label = where if key is None else f"{where}: {given} = {key}"
            ok = isinstance(table, dict) and all(
                isinstance(p, int | float) and p >= 0 for p in table.values()
            )
            if not ok or abs(sum(table.values()) - 1.0) > 1e-6:
                self.problems.append(f"{label}: probabilities must be numbers that sum to 1")
                return False
        return True

    def codes(self, name: str, cases: tuple[Case, ...], where: str) -> None:
        """Drawn codes must be codes of the dictionary's choice or yes/no variable."""
        variable = self.dictionary.get(name)
        if variable is None or variable.type not in ("single", "yesno"):
            return
        allowed = (
            {0, 1} if variable.type == "yesno" else {_number(c.code) for c in variable.choices}
        )
        for case in cases:
            drawn: set[object] = set()
            if case.kind == "categorical":
                tables = (
                    [v for k, v in case.spec.items() if k != "given"]
                    if "given" in case.spec
                    else [case.spec]
                )
                drawn = {_number(code) for table in tables for code in table}
            elif case.kind == "ordinal":
                drawn = {_number(code) for code in case.spec["codes"]}
            elif case.kind == "logistic":
                drawn = {0, 1}
            elif case.kind == "constant":
                drawn = {_number(case.spec["value"])}
            bad = sorted(map(str, drawn - allowed))
            if bad:
                self.problems.append(f"{where}: codes {bad} are not choices of the dictionary")

    def bounds(self, described: VariableDescription, where: str) -> None:
        """Unbounded draws must be held inside the dictionary's hard bounds."""
        variable = self.dictionary.get(described.name)
        if variable is None or described.value_type != "number":
            return
        open_ended = any(c.kind in ("normal", "lognormal", "expression") for c in described.cases)
        for bound, given, inside in (
            (variable.minimum, described.minimum, operator.ge),
            (variable.maximum, described.maximum, operator.le),
        ):
            if bound is None or not isinstance(bound, int | float) or not open_ended:
                continue
            if given is None or not inside(given, bound):
                self.problems.append(
                    f"{where}: may draw values outside the dictionary's bounds; "
                    f"give min and max within {variable.minimum}..{variable.maximum}"
                )
                return

    def prom(
        self, raw: object, questionnaires: tuple[Questionnaire, ...]
    ) -> PromDescription | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.problems.append("prom: expected a mapping")
            return None
        found = [q for q in questionnaires if q.key == raw.get("questionnaire")]
        if not found:
            self.problems.append(
                f"prom: questionnaire {raw.get('questionnaire')!r} is not in questionnaires.yaml"
            )
            return None
        response = raw.get("response")
        if not isinstance(response, dict) or "intercept" not in response:
            self.problems.append("prom: response: needs a logistic model with an intercept")
            return None
        return PromDescription(
            questionnaire=max(found, key=lambda q: q.version),
            response=self.linear(response, "prom: response"),
            intercept=self.number(response["intercept"], "prom: response: intercept"),
            answer_within_days=int(raw.get("answer_within_days", 30)),
        )


def _number(code: object) -> object:
    """A choice code as the logic reads it: a number when it is one."""
    try:
        number = float(str(code))
    except ValueError:
        return str(code)
    return int(number) if number.is_integer() else number
