"""Checks of a dictionary that span variables: logic against the dictionary, types, cycles.

A form evaluates show-if logic, calculations and validation rules against the other fields,
and the engine reads the same variables, so each expression is type-checked against the
dictionary when it loads. The type of a calculated variable is the type of its calculation
(a true/false calculation is stored as 1 or 0, so it is a number, as in REDCap); a variable
whose value depends on itself, through calculations or show-if logic, can never be settled,
so such cycles are errors. A show-if may name a variable of a later form: only cycles matter.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping

from entry.dictionary_model import Problem, Variable
from entry.expressions import ExpressionError, Node, ValueType, check, variables_of

BASE_TYPES: Mapping[str, ValueType] = {
    "integer": "number",
    "decimal": "number",
    "yesno": "number",
    "single": "number",
    "text": "text",
    "notes": "text",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
    "multiple": "codes",
}
"""The value type of each variable type; single choices with non-numeric codes are text."""


def base_type(variable: Variable) -> ValueType | None:
    if variable.type == "single" and not has_number_codes(variable):
        return "text"
    return BASE_TYPES.get(variable.type)


def has_number_codes(variable: Variable) -> bool:
    """Whether the variable's choice codes all read as numbers; yes/no's 0 and 1 do."""
    return variable.type == "yesno" or all(is_number_code(c.code) for c in variable.choices)


def check_logic(
    variables: list[Variable], problems: list[Problem], unresolved: Collection[str] = ()
) -> list[Variable]:
    """Check every expression; return the variables with `value_type` filled in.

    `unresolved` names variables whose rows were too broken to read: expressions that use
    them are not checked, so one bad row does not cascade into problems on other rows.
    """
    first = {v.name: v for v in reversed(variables)}
    checker = _Checker(problems, unresolved, first)
    checker.resolve_calculations()
    for variable in variables:
        if variable.show_if is not None:
            checker.check(variable, "show_if", variable.show_if, variable.show_if_text, form=True)
        for number, rule in enumerate(variable.validations, start=1):
            prefix = f"rule {number}: " if len(variable.validations) > 1 else ""
            checker.check(variable, "validation", rule.expression, rule.text, prefix, form=True)
    return [dataclasses.replace(v, value_type=checker.types.get(v.name)) for v in variables]


class _Checker:
    def __init__(
        self, problems: list[Problem], unresolved: Collection[str], by_name: dict[str, Variable]
    ) -> None:
        self.problems = problems
        self.by_name = by_name
        self.types: dict[str, ValueType] = {}
        for name, variable in by_name.items():
            value_type = base_type(variable)
            if value_type is not None:
                self.types[name] = value_type
        self.descriptive = {n for n, v in by_name.items() if v.type == "descriptive"}
        self.undetermined = set(unresolved) | self._cycles()

    def _cycles(self) -> set[str]:
        """Variables whose value depends on itself; one problem per cycle, on its first row."""
        edges = {
            name: _depends_on(variable) & self.by_name.keys()
            for name, variable in self.by_name.items()
        }
        reach = {name: _reachable(name, edges) for name, targets in edges.items() if targets}
        cyclic = {name for name, reached in reach.items() if name in reached}
        reported: set[str] = set()
        for name in sorted(cyclic, key=lambda n: self.by_name[n].row):
            if name in reported:
                continue
            members = sorted(
                (other for other in cyclic if other in reach[name] and name in reach[other]),
                key=lambda n: self.by_name[n].row,
            )
            reported.update(members)
            variable = self.by_name[name]
            column = "calculation" if variable.calculation is not None else "show_if"
            path = " → ".join([*members, members[0]])
            self.problems.append(Problem(variable.row, column, f"{name} depends on itself: {path}"))
        return cyclic

    def resolve_calculations(self) -> None:
        """Type calculations in dependency order, so one may use another."""
        pending = {
            n: v
            for n, v in self.by_name.items()
            if v.type == "calculated" and n not in self.undetermined
        }
        while pending:
            ready = [n for n, v in pending.items() if not (variables_of_calc(v) & pending.keys())]
            if not ready:  # what is left waits on a cycle
                self.undetermined.update(pending)
                return
            for name in sorted(ready, key=lambda n: pending[n].row):
                variable = pending.pop(name)
                if variable.calculation is None:
                    self.undetermined.add(name)
                    continue
                result = self.check(
                    variable, "calculation", variable.calculation, variable.calculation_text
                )
                if result is None:
                    self.undetermined.add(name)
                else:
                    self.types[name] = "number" if result == "boolean" else result

    def check(
        self,
        variable: Variable,
        column: str,
        node: Node,
        text: str | None,
        prefix: str = "",
        *,
        form: bool = False,
    ) -> ValueType | None:
        """The expression's type, or None after adding its problem.

        `form` marks show-if logic and validation rules: they must be conditions and may use
        today(). A calculation may not, since its stored value would depend on the day it
        was saved and the engine has no clock.
        """
        names = variables_of(node)
        if names & self.undetermined:
            return None
        for name in sorted(names & self.descriptive):
            position = _position_of(name, text or "")
            self.problems.append(
                Problem(
                    variable.row,
                    column,
                    f"{prefix}{name} is descriptive text and has no value",
                    position,
                )
            )
            return None
        try:
            return check(node, self.types, expect="boolean" if form else None, allow_today=form)
        except ExpressionError as error:
            self.problems.append(
                Problem(variable.row, column, prefix + error.message, error.position)
            )
            return None


def variables_of_calc(variable: Variable) -> frozenset[str]:
    return variables_of(variable.calculation) if variable.calculation is not None else frozenset()


def _depends_on(variable: Variable) -> set[str]:
    names = set(variables_of_calc(variable))
    if variable.show_if is not None:
        names |= variables_of(variable.show_if)
    return names


def _reachable(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(edges.get(name, ()))
    return seen


def _position_of(name: str, text: str) -> int | None:
    match = re.search(rf"(?<![\w']){re.escape(name)}(?![\w'])", text)
    return match.start() if match else None


def is_number_code(code: str) -> bool:
    """Whether a choice code reads as a number (`2`, `-1`, `1.5`)."""
    return re.fullmatch(r"-?\d+(\.\d+)?", code) is not None
