"""What an indicator is, as written in a registry's `indicators.yaml`.

Definitions are validated when they are read, so a registry with a bad definition fails at
start-up with the indicator and key named, not later on a results page.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Text(BaseModel):
    """A user-facing text in bokmål and English; both are required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nb: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def in_language(self, language: str) -> str:
        return self.en if language == "en" else self.nb


class Targets(BaseModel):
    """Target levels (måloppnåelse): the bounds of high and moderate achievement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    high: float
    moderate: float


class RiskModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    family: Literal["binomial", "poisson"] | None = None
    covariates: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    expected: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.expected is None and self.family is None:
            raise ValueError("give either `family` with `covariates`, or `expected`")
        if self.expected is not None and (self.family or self.covariates):
            raise ValueError("`expected` cannot be combined with `family` or `covariates`")
        if self.family is not None and not self.covariates:
            raise ValueError("a fitted risk model needs at least one covariate")
        unknown = set(self.categorical) - set(self.covariates)
        if unknown:
            raise ValueError(f"categorical names not among the covariates: {sorted(unknown)}")
        return self


class Funnel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    overdispersion: bool = True


class Indicator(BaseModel):
    """One quality indicator (kvalitetsindikator); see DESIGN.md, "The engine's contract"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Text
    description: Text
    type: Literal["proportion", "mean", "median"]
    denominator: str | None = None
    numerator: str | None = None
    value: str | None = None
    period: Literal["year"] = "year"
    direction: Literal["higher", "lower"]
    targets: Targets | None = None
    min_denominator: int = Field(default=10, ge=1)
    decimals: int = Field(default=1, ge=0, le=4)
    """Decimals shown for a mean or median: 1 suits minutes and days, an index such as
    EQ-5D (1 is full health) needs 2. Display only; proportions are shown as percentages."""
    coverage: str | None = None
    risk_model: RiskModel | None = None
    funnel: Funnel = Funnel()

    @model_validator(mode="after")
    def _expressions_fit_type(self) -> Self:
        if self.type == "proportion" and not self.numerator:
            raise ValueError("a proportion needs a `numerator`")
        if self.type != "proportion" and not self.value:
            raise ValueError(f"a {self.type} needs a `value`")
        if self.type != "proportion" and self.numerator:
            raise ValueError(f"a {self.type} has a `value`, not a `numerator`")
        if self.targets is not None:
            high, moderate = self.targets.high, self.targets.moderate
            if self.direction == "higher" and high < moderate:
                raise ValueError(
                    "with direction `higher`, targets.high must be >= targets.moderate"
                )
            if self.direction == "lower" and high > moderate:
                raise ValueError("with direction `lower`, targets.high must be <= targets.moderate")
        return self


class IndicatorDefinitionError(ValueError):
    """Every problem of one indicator definition, each naming the key at fault."""


def indicator_from_mapping(mapping: object, position: int) -> Indicator:
    """Validate one entry of `indicators.yaml`, naming the indicator in every error."""
    name = mapping.get("key", f"#{position + 1}") if isinstance(mapping, dict) else position + 1
    try:
        return Indicator.model_validate(mapping)
    except ValidationError as error:
        problems = [
            f"indicator {name}: {'.'.join(str(p) for p in item['loc']) or '(entry)'}: {item['msg']}"
            for item in error.errors()
        ]
        raise IndicatorDefinitionError("\n".join(problems)) from error
