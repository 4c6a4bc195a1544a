"""Indicator definitions turned into polars expressions over one registrations frame.

An indicator's expressions are checked against the columns the engine is actually given, so
a definition that names a variable the snapshot lacks, or compares a date with a number,
fails before any number is computed, naming the indicator, the key and the position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from entry.expressions import ExpressionError, ValueType, compile_expression, types_from_schema
from indicators.definition import Indicator, IndicatorDefinitionError


@dataclass(frozen=True)
class CompiledIndicator:
    """One indicator's expressions over the registrations.

    `denominator` and `numerator` are never null: where the language says unknown, the
    registration is not counted (DESIGN.md, "One expression language"). `value` is null
    outside the denominator. `position` names the indicator's working columns.
    """

    position: int
    indicator: Indicator
    denominator: pl.Expr
    numerator: pl.Expr | None
    value: pl.Expr | None

    @property
    def key(self) -> str:
        return self.indicator.key

    @property
    def value_column(self) -> str:
        return f"_v{self.position}"

    @property
    def outcome(self) -> pl.Expr:
        """What a risk model predicts: the numerator (0/1) of a proportion, else the value."""
        outcome = self.numerator if self.numerator is not None else self.value
        assert outcome is not None  # a proportion has a numerator, a mean or median a value
        return outcome


def compile_indicators(
    indicators: Sequence[Indicator], schema: pl.Schema
) -> list[CompiledIndicator]:
    """Every indicator's expressions, checked against the registrations' columns."""
    keys = [indicator.key for indicator in indicators]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise IndicatorDefinitionError(f"indicator keys given more than once: {duplicated}")
    missing = {"unit_id", "event_date"} - set(schema.names())
    if missing:
        raise ValueError(f"registrations lack the columns {sorted(missing)}")
    types = types_from_schema(schema)
    return [_compile(position, indicator, types) for position, indicator in enumerate(indicators)]


def _compile(
    position: int, indicator: Indicator, types: Mapping[str, ValueType]
) -> CompiledIndicator:
    def expression(key: str, text: str, expect: ValueType) -> pl.Expr:
        try:
            return compile_expression(text, types, expect=expect).expr
        except ExpressionError as error:
            raise IndicatorDefinitionError(f"indicator {indicator.key}: {key}: {error}") from error

    denominator = (
        expression("denominator", indicator.denominator, "boolean").fill_null(False)
        if indicator.denominator
        else pl.lit(True)
    )
    numerator = value = None
    if indicator.numerator:
        counted = expression("numerator", indicator.numerator, "boolean").fill_null(False)
        numerator = denominator & counted
    if indicator.value:
        number = expression("value", indicator.value, "number").cast(pl.Float64)
        value = pl.when(denominator).then(number)
    _check_risk_model(indicator, types)
    return CompiledIndicator(position, indicator, denominator, numerator, value)


def _check_risk_model(indicator: Indicator, types: Mapping[str, ValueType]) -> None:
    model = indicator.risk_model
    if model is None:
        return
    where = f"indicator {indicator.key}: risk_model"
    if model.family == "binomial" and indicator.type != "proportion":
        raise IndicatorDefinitionError(f"{where}: a binomial model needs a proportion")
    names = [*model.covariates, *([model.expected] if model.expected else [])]
    unknown = [name for name in names if name not in types]
    if unknown:
        raise IndicatorDefinitionError(f"{where}: unknown variables {unknown}")
    not_numbers = [
        name
        for name in names
        if name not in model.categorical and types[name] not in ("number", "boolean")
    ]
    if not_numbers:
        raise IndicatorDefinitionError(
            f"{where}: {not_numbers} are not numbers; list categories under `categorical`"
        )


INDICATOR_META: dict[str, pl.DataType] = {
    "indicator": pl.String(),
    "order": pl.Int64(),
    "type": pl.String(),
    "direction": pl.String(),
    "target_high": pl.Float64(),
    "target_moderate": pl.Float64(),
    "min_denominator": pl.Int64(),
    "risk_adjusted": pl.Boolean(),
    "overdispersion": pl.Boolean(),
}
"""What the later steps need of each definition, as columns joined on `indicator`."""


def indicator_meta(compiled: Sequence[CompiledIndicator]) -> pl.DataFrame:
    rows = [
        (
            item.key,
            item.position,
            item.indicator.type,
            item.indicator.direction,
            item.indicator.targets.high if item.indicator.targets else None,
            item.indicator.targets.moderate if item.indicator.targets else None,
            item.indicator.min_denominator,
            item.indicator.risk_model is not None,
            item.indicator.funnel.overdispersion,
        )
        for item in compiled
    ]
    return pl.DataFrame(rows, schema=INDICATOR_META, orient="row")
