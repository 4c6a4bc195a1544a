"""Show-if logic and validation rules in words, for readers who do not read expressions.

The codebook shows `stroke_type = 1 and thrombolysis = 0` as «Type hjerneslag» er «Iskemisk
hjerneinfarkt» (1) og «Trombolyse» er nei: variables by their label, codes by their choice label,
operators by what they mean for the variable's type (before/after for dates). Anything this
module has no words for (arithmetic, most functions) is written back as expression text, so
the reader still sees the exact rule rather than nothing. Pure: no request, no files.
"""

from __future__ import annotations

from collections.abc import Mapping

from entry.dictionary import Variable as DictionaryVariable
from entry.expressions.nodes import (
    ARITHMETIC,
    COMPARISONS,
    LOGICAL,
    Binary,
    BooleanLiteral,
    Call,
    Membership,
    Node,
    NumberLiteral,
    TextLiteral,
    Unary,
    Variable,
)

WORDS: Mapping[str, Mapping[str, str]] = {
    "nb": {
        "and": "og", "or": "eller", "not": "ikke", "yes": "ja", "no": "nei",
        "true": "sann", "false": "usann", "blank": "er tom", "filled": "er fylt ut",
        "=": "er", "<>": "er ikke", "<": "er under", "<=": "er høyst", ">": "er over",
        ">=": "er minst", "in": "er en av", "not in": "er ingen av",
        "date <": "er før", "date <=": "er samme tid som eller før", "date >": "er etter",
        "date >=": "er samme tid som eller etter", "checked": "har krysset av for",
        "not checked": "har ikke krysset av for",
    },
    "en": {
        "and": "and", "or": "or", "not": "not", "yes": "yes", "no": "no",
        "true": "true", "false": "false", "blank": "is blank", "filled": "is filled in",
        "=": "is", "<>": "is not", "<": "is less than", "<=": "is at most", ">": "is more than",
        ">=": "is at least", "in": "is one of", "not in": "is none of",
        "date <": "is before", "date <=": "is on or before", "date >": "is after",
        "date >=": "is on or after", "checked": "has ticked", "not checked": "has not ticked",
    },
}  # fmt: skip
QUOTES = {"nb": ("«", "»"), "en": ("“", "”")}
TIME_TYPES = frozenset({"date", "datetime", "time"})


def in_words(
    node: Node, language: str, variables: Mapping[str, DictionaryVariable] | None = None
) -> str:
    """The expression as a sentence fragment in bokmål or English ("en"), e.g. for
    "shown when …"; `variables` (by name) supply labels and choice labels."""
    return _Writer("en" if language == "en" else "nb", variables or {}).condition(node)


def expression_text(node: Node) -> str:
    """The expression written back as text (the fallback); every inner operation is in
    brackets, so the reader never needs to know which operator binds tighter."""
    if isinstance(node, Variable):
        return node.name
    if isinstance(node, NumberLiteral | TextLiteral | BooleanLiteral):
        return _literal_text(node)
    if isinstance(node, Unary):
        operand = expression_text(node.operand)
        if isinstance(node.operand, Binary | Membership):
            operand = f"({operand})"
        return f"not {operand}" if node.operator == "not" else f"-{operand}"
    if isinstance(node, Binary):
        return f"{_operand(node.left)} {node.operator} {_operand(node.right)}"
    if isinstance(node, Membership):
        items = ", ".join(expression_text(item) for item in node.items)
        return f"{_operand(node.operand)} {'not in' if node.negated else 'in'} ({items})"
    if isinstance(node, Call):
        return f"{node.name}({', '.join(expression_text(a) for a in node.arguments)})"
    return node.source or "?"


def _operand(node: Node) -> str:
    text = expression_text(node)
    return f"({text})" if isinstance(node, Binary | Membership) else text


def _literal_text(node: NumberLiteral | TextLiteral | BooleanLiteral) -> str:
    if isinstance(node, TextLiteral):
        return "'" + node.value.replace("'", "\\'") + "'"
    if isinstance(node, BooleanLiteral):
        return "true" if node.value else "false"
    return f"{node.value:g}" if isinstance(node.value, float) else str(node.value)


class _Writer:
    def __init__(self, language: str, variables: Mapping[str, DictionaryVariable]) -> None:
        self.language = language
        self.words = WORDS[language]
        self.variables = variables

    def condition(self, node: Node) -> str:
        if isinstance(node, Binary) and node.operator in LOGICAL:
            return self.logical(node)
        if isinstance(node, Binary) and node.operator in COMPARISONS:
            return self.comparison(node)
        if isinstance(node, Unary) and node.operator == "not":
            return self.negation(node.operand)
        if isinstance(node, Membership):
            return self.membership(node)
        if isinstance(node, Call) and node.name in {"isblank", "checked"}:
            return self.call(node, negated=False)
        if isinstance(node, Variable):
            return f"{self.name(node)} {self.words['=']} {self.words['yes']}"
        return self.value(node)

    def logical(self, node: Binary) -> str:
        parts = []
        for side in (node.left, node.right):
            text = self.condition(side)
            inner = side.operator if isinstance(side, Binary) else None
            # Readers do not know that "and" binds tighter: any mix of the two gets brackets.
            if inner in LOGICAL and inner != node.operator:
                text = f"({text})"
            parts.append(text)
        return f" {self.words[node.operator]} ".join(parts)

    def negation(self, operand: Node) -> str:
        if isinstance(operand, Call) and operand.name in {"isblank", "checked"}:
            return self.call(operand, negated=True)
        return f"{self.words['not']} ({self.condition(operand)})"

    def call(self, node: Call, negated: bool) -> str:
        first = node.arguments[0] if node.arguments else None
        if node.name == "isblank" and len(node.arguments) == 1 and first is not None:
            return f"{self.value(first)} {self.words['filled' if negated else 'blank']}"
        if node.name == "checked" and len(node.arguments) == 2 and first is not None:
            verb = self.words["not checked" if negated else "checked"]
            return f"{self.value(first)}: {verb} {self.code(first, node.arguments[1])}"
        text = expression_text(node)
        return f"{self.words['not']} ({text})" if negated else text

    def comparison(self, node: Binary) -> str:
        operator = node.operator
        left, right = node.left, node.right
        if isinstance(left, NumberLiteral | TextLiteral | BooleanLiteral) and not isinstance(
            right, NumberLiteral | TextLiteral | BooleanLiteral
        ):
            left, right = right, left
            operator = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(operator, operator)
        key = operator
        if operator in {"<", "<=", ">", ">="} and self.value_type(left) in TIME_TYPES:
            key = f"date {operator}"
        return f"{self.value(left)} {self.words[key]} {self.code(left, right)}"

    def membership(self, node: Membership) -> str:
        codes = ", ".join(self.code(node.operand, item) for item in node.items)
        verb = self.words["not in" if node.negated else "in"]
        return f"{self.value(node.operand)} {verb}: {codes}"

    def value(self, node: Node) -> str:
        """A variable by its label; anything else as expression text."""
        if isinstance(node, Variable):
            return self.name(node)
        if isinstance(node, NumberLiteral | TextLiteral | BooleanLiteral):
            return self.literal(node)
        return expression_text(node)

    def code(self, subject: Node, node: Node) -> str:
        """`node` as what it means for `subject`: a choice label where subject has choices."""
        variable = self.variables.get(subject.name) if isinstance(subject, Variable) else None
        if variable is not None and isinstance(node, NumberLiteral | TextLiteral):
            code = _literal_text(node).strip("'") if isinstance(node, TextLiteral) else None
            code = code if code is not None else _literal_text(node)
            if variable.type == "yesno" and code in {"0", "1"}:
                return self.words["yes" if code == "1" else "no"]
            for choice in variable.choices:
                if choice.code == code:
                    label = choice.label.in_language(self.language)
                    return f"{self.quote(label)} ({code})"
        return self.value(node)

    def name(self, node: Variable) -> str:
        variable = self.variables.get(node.name)
        if variable is None:
            return node.name
        return self.quote(variable.label.in_language(self.language))

    def literal(self, node: NumberLiteral | TextLiteral | BooleanLiteral) -> str:
        if isinstance(node, BooleanLiteral):
            return self.words["true" if node.value else "false"]
        if isinstance(node, TextLiteral):
            return self.quote(node.value)
        text = _literal_text(node)
        return text.replace(".", ",") if self.language == "nb" else text

    def quote(self, text: str) -> str:
        opening, closing = QUOTES[self.language]
        return f"{opening}{text}{closing}"

    def value_type(self, node: Node) -> str | None:
        if isinstance(node, Variable) and node.name in self.variables:
            return self.variables[node.name].value_type
        if isinstance(node, Binary) and node.operator in ARITHMETIC:
            return self.value_type(node.left)
        return None
