"""Synthetic demo data drawn from a registry's `synthetic.yaml` (entry.synthetic_description).

One generator for every registry that describes its data instead of writing Python. Units of
the described level get a size and planted effects; registrations are spread over units and
years by coverage; each variable is drawn in the order written, by whole arrays (polars and
numpy, no loops over rows), with expressions of the project's language for terms and
conditions. Then the registry's own dictionary finishes the record as a form would: fields
hidden by show-if logic are blank, calculated fields are computed by their calculations, and
a record that would fail a required field or a validation rule stays a draft. Questionnaire
answers follow the questionnaire's invitation rule and are scored by `entry.scoring`.

Pure and deterministic: a seeded numpy Generator, no files and no clock. The planted
effects are returned in `truth`, the answer risk adjustment is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from entry.dictionary import Dictionary
from entry.expressions import Node, parse, to_polars
from entry.record_rules import dependency_order
from entry.scoring import score
from entry.synthetic_description import (
    DAYS_OBSERVED,
    OFFSET_UNITS,
    Case,
    Linear,
    PromDescription,
    SyntheticDescription,
    VariableDescription,
)

_EPOCH = date(1970, 1, 1)
_MINUTE_US = 60_000_000


@dataclass(frozen=True)
class SyntheticDemo:
    """What `generate` returns, as stroke's generator does (portal/demo.py stores it)."""

    registrations: pl.DataFrame
    patients: pl.DataFrame
    coverage: pl.DataFrame
    truth: dict[str, Any]


def generate(
    description: SyntheticDescription,
    dictionary: Dictionary,
    event_date_variable: str,
    units: pl.DataFrame,
    registrations: int,
    seed: int,
) -> SyntheticDemo:
    """Exactly `registrations` registrations at the units of the description's level."""
    if registrations < 1:
        raise ValueError("registrations must be at least 1")
    rng = np.random.default_rng(seed)
    unit_ids = _units(units, description.unit_level)
    d = len(unit_ids)
    weight = np.exp(rng.normal(0.0, description.volume_sigma, d))
    effects = {
        name: _centred(weight, rng.normal(0.0, sd, d)) for name, sd in description.effects.items()
    }
    ui, event_day, coverage, coverage_truth = _volumes(
        description, weight, unit_ids, registrations, rng
    )
    last_day = (description.last_date - _EPOCH).days
    world = _World(rng, ui, effects, last_day)
    world.put(event_date_variable, pl.Series(event_day.astype(np.int32)).cast(pl.Date))
    world.put(DAYS_OBSERVED, pl.Series((last_day - event_day).astype(np.float64)))
    for variable in description.variables:
        world.put(variable.name, world.draw(variable))
    if description.prom is not None:
        world.prom(description.prom)
    frame = _finish(world.frame(), dictionary)
    status = _status(frame, dictionary, description, event_day, last_day, rng)

    order = np.lexsort((unit_ids[ui], event_day))
    variables = [v.name for v in dictionary.variables if v.value_type is not None]
    out = frame.select(
        pl.Series("patient_index", np.arange(registrations), dtype=pl.Int64),
        pl.Series("unit_id", unit_ids[ui], dtype=pl.Int64),
        pl.col(event_date_variable).alias("event_date"),
        pl.Series("status", status, dtype=pl.String),
        *(pl.col(name) for name in variables),
    )[order].with_columns(pl.Series("patient_index", np.arange(registrations), dtype=pl.Int64))
    patients = _patients(out, description, rng)
    truth = _truth(description, seed, unit_ids, weight, effects, ui, coverage_truth)
    truth["registrations"], truth["patients"] = registrations, patients.height
    return SyntheticDemo(out, patients, coverage, truth)


def _units(units: pl.DataFrame, level: str) -> np.ndarray:
    chosen = units.filter(pl.col("level").cast(pl.String) == level).sort("unit_id")
    if chosen.is_empty():
        raise ValueError(f"the unit tree has no units of level {level!r}")
    return chosen["unit_id"].cast(pl.Int64).to_numpy()


def _volumes(
    description: SyntheticDescription,
    weight: np.ndarray,
    unit_ids: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, pl.DataFrame, dict[str, dict[str, float]]]:
    """Units and event days of the registrations, and the eligible counts (dekningsgrad).

    Registered counts are multinomial over unit-years by size × days × planned coverage; the
    unregistered patients of each unit-year are Poisson at the same scale.
    """
    years = np.arange(description.first_year, description.last_date.year + 1)
    last_day = (description.last_date - _EPOCH).days
    starts = np.array([(date(int(y), 1, 1) - _EPOCH).days for y in years])
    ends = np.minimum([(date(int(y), 12, 31) - _EPOCH).days for y in years], last_day)
    days = ends - starts + 1
    d, y = len(weight), len(years)
    planned = rng.uniform(*description.coverage, (d, y))
    expected = weight[:, None] * days[None, :]
    share = expected * planned
    counts = rng.multinomial(n, (share / share.sum()).ravel()).reshape(d, y)
    eligible = counts + rng.poisson(n / share.sum() * expected * (1.0 - planned))
    cell = np.repeat(np.arange(d * y), counts.ravel())
    ui, yi = cell // y, cell % y
    event_day = starts[yi] + np.floor(rng.random(n) * days[yi]).astype(np.int64)
    kept = eligible.ravel() > 0
    unit_grid, year_grid = np.repeat(unit_ids, y), np.tile(years, d)
    coverage = pl.DataFrame(
        [
            pl.Series("unit_id", unit_grid[kept], dtype=pl.Int64),
            pl.Series("year", year_grid[kept], dtype=pl.Int32),
            pl.Series("eligible", eligible.ravel()[kept], dtype=pl.Int64),
        ]
    )
    truth: dict[str, dict[str, float]] = {}
    ratio = counts.ravel()[kept] / eligible.ravel()[kept]
    for unit, year, value in zip(unit_grid[kept], year_grid[kept], ratio, strict=True):
        truth.setdefault(str(unit), {})[str(year)] = round(float(value), 4)
    return ui, event_day, coverage, truth


class _World:
    """The columns drawn so far, as polars series, and the draws themselves."""

    def __init__(
        self,
        rng: np.random.Generator,
        ui: np.ndarray,
        effects: dict[str, np.ndarray],
        last_day: int,
    ) -> None:
        self.rng, self.ui, self.effects, self.last_day = rng, ui, effects, last_day
        self.n = len(ui)
        self.columns: dict[str, pl.Series] = {}

    def put(self, name: str, values: pl.Series) -> None:
        self.columns[name] = values.alias(name)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(list(self.columns.values()))

    def evaluate(self, node: Node) -> pl.Series:
        return self.frame().select(to_polars(node).alias("value")).to_series()

    def number(self, node: Node) -> np.ndarray:
        return self.evaluate(node).cast(pl.Float64).to_numpy().astype(np.float64)

    def linear(self, linear: Linear) -> np.ndarray:
        total = np.zeros(self.n)
        for node, coefficient in linear.terms:
            total += coefficient * np.nan_to_num(self.number(node), nan=0.0)
        if linear.effect is not None:
            total += self.effects[linear.effect][self.ui]
        return total

    def draw(self, variable: VariableDescription) -> pl.Series:
        values = np.full(self.n, np.nan)
        open_rows = np.ones(self.n, dtype=bool)
        for case in variable.cases:
            rows = open_rows.copy()
            if case.when is not None:
                rows &= self.evaluate(case.when).fill_null(False).to_numpy()
            values = np.where(rows, self.amount(case), values)
            open_rows &= ~rows
        if variable.minimum is not None or variable.maximum is not None:
            values = np.clip(values, variable.minimum, variable.maximum)
        if variable.decimals is not None:
            values = np.round(values, variable.decimals)
        values[self.rng.random(self.n) < variable.blank] = np.nan
        if variable.value_type == "date":
            if variable.censor:
                values[values > self.last_day] = np.nan
            return pl.Series(values, nan_to_null=True).cast(pl.Int32).cast(pl.Date)
        if variable.value_type == "datetime":
            if variable.censor:
                values[values >= (self.last_day + 1) * 1440] = np.nan
            minutes = pl.Series(values, nan_to_null=True).cast(pl.Int64)
            return (minutes * _MINUTE_US).cast(pl.Datetime("us"))
        return pl.Series(values, dtype=pl.Float64, nan_to_null=True)

    def amount(self, case: Case) -> np.ndarray:
        """The case's values for every row (as floats; dates in days, datetimes in minutes)."""
        n, rng, spec = self.n, self.rng, case.spec
        if case.kind == "offset":
            assert case.inner is not None
            base = self.columns[str(spec["from"])]
            minutes = (
                np.floor(self.amount(case.inner)) * OFFSET_UNITS[str(spec.get("unit", "days"))]
            )
            sign = -1.0 if spec.get("before") else 1.0
            if base.dtype == pl.Date:
                days = base.cast(pl.Int32).cast(pl.Float64).to_numpy()
                if spec.get("unit", "days") == "days":
                    return np.asarray(days + sign * minutes / 1440, dtype=float)
                return np.asarray(days * 1440 + sign * minutes, dtype=float)
            stamp = (base.cast(pl.Int64) // _MINUTE_US).cast(pl.Float64).to_numpy()
            return np.asarray(stamp + sign * minutes, dtype=float)
        if case.kind == "expression":
            assert case.node is not None
            return np.asarray(self.number(case.node), dtype=float)
        if case.kind == "constant":
            return np.full(n, float(spec["value"]))
        if case.kind == "uniform":
            low, high = spec["value"]
            return rng.uniform(low, high, n)
        if case.kind == "categorical":
            return self.categorical(spec)
        shift = self.linear(case.linear)
        if case.kind == "logistic":
            return (rng.random(n) < _expit(float(spec["intercept"]) + shift)).astype(float)
        if case.kind == "ordinal":
            latent = shift + rng.logistic(size=n)
            codes = np.asarray(spec["codes"], dtype=float)
            return codes[np.searchsorted(np.asarray(spec["cut_points"], dtype=float), latent)]
        if case.kind == "normal":
            return float(spec["mean"]) + shift + rng.normal(0.0, float(spec["sd"]), n)
        # lognormal
        log_median = np.log(float(spec["median"]))
        return np.asarray(np.exp(log_median + shift + rng.normal(0.0, float(spec["sigma"]), n)))

    def categorical(self, spec: Any) -> np.ndarray:
        u = self.rng.random(self.n)
        given = spec.get("given")
        if given is None:
            return _pick(spec, u)
        by = self.columns[str(given)].cast(pl.Float64).to_numpy()
        values = np.full(self.n, np.nan)
        for key, table in spec.items():
            if key != "given":
                values = np.where(by == float(key), _pick(table, u), values)
        return values

    def prom(self, prom: PromDescription) -> None:
        """Invite by the questionnaire's rule, answer by the response model, set its variables."""
        questionnaire = prom.questionnaire
        rule, response = questionnaire.invitation, questionnaire.response
        base = self.columns[rule.date_variable].cast(pl.Int32).to_numpy().astype(np.float64)
        invitation_day = base + rule.days_after
        invited = invitation_day <= self.last_day
        if rule.when:
            invited &= self.evaluate(parse(rule.when)).fill_null(False).to_numpy()
        willing = self.rng.random(self.n) < _expit(prom.intercept + self.linear(prom.response))
        answer_day = invitation_day + np.floor(self.rng.random(self.n) * prom.answer_within_days)
        answered = invited & willing & (answer_day <= self.last_day)
        one = pl.Series(np.where(invited, 1.0, np.nan), nan_to_null=True)
        self.put(response.invited, one)
        self.put(response.answered, pl.Series(np.where(answered, 1.0, np.nan), nan_to_null=True))
        if response.version:
            self.put(
                response.version,
                pl.Series(
                    np.where(answered, float(questionnaire.version), np.nan), nan_to_null=True
                ),
            )
        if response.date:
            days = pl.Series(np.where(answered, answer_day, np.nan), nan_to_null=True)
            self.put(response.date, days.cast(pl.Int32).cast(pl.Date))
        for name, value in response.sets.items():
            self.put(name, pl.Series(np.where(answered, float(value), np.nan), nan_to_null=True))
        for instrument, use in questionnaire.instruments.items():
            self.put(use.score, _scores(instrument, use.version, use.items, self.columns, answered))


def _scores(
    instrument: str,
    version: str,
    items: dict[str, str],
    columns: dict[str, pl.Series],
    answered: np.ndarray,
) -> pl.Series:
    """Each answered row's score by `entry.scoring`, computed once per distinct answer set."""
    answers = pl.DataFrame({item: columns[name].cast(pl.Int64) for item, name in items.items()})
    answers = answers.with_columns(pl.Series("_answered", answered))
    states = answers.filter("_answered").drop("_answered").unique()
    scored = states.with_columns(
        pl.Series(
            "_score",
            [score(instrument, row, version=version).value for row in states.iter_rows(named=True)],
            dtype=pl.Float64,
        )
    )
    joined = answers.join(
        scored, on=list(items), how="left", nulls_equal=True, maintain_order="left"
    )
    return joined.select(pl.when("_answered").then(pl.col("_score"))).to_series()


def _finish(frame: pl.DataFrame, dictionary: Dictionary) -> pl.DataFrame:
    """Typed columns for every variable, blanked by show-if and calculated as a form would."""
    typed = []
    for variable in dictionary.variables:
        if variable.value_type is None or variable.type == "calculated":
            continue
        column = frame[variable.name] if variable.name in frame.columns else pl.Series(
            variable.name, [None] * frame.height, dtype=pl.Float64
        )  # fmt: skip
        if variable.type in ("integer", "yesno", "single"):
            column = column.cast(pl.Float64).round(0).cast(pl.Int64)
        elif variable.type == "decimal":
            column = column.cast(pl.Float64)
        elif variable.type == "date":
            column = column.cast(pl.Date)
        elif variable.type == "datetime":
            column = column.cast(pl.Datetime("us"))
        typed.append(column.alias(variable.name))
    result = pl.DataFrame(typed) if typed else pl.DataFrame()
    for variable in dependency_order(dictionary):
        if variable.show_if is not None:
            shown = to_polars(variable.show_if).fill_null(False)
            target = pl.col(variable.name) if variable.type != "calculated" else None
            if target is not None:
                result = result.with_columns(pl.when(shown).then(target).alias(variable.name))
        if variable.calculation is not None:
            value = to_polars(variable.calculation)
            if variable.show_if is not None:
                value = pl.when(to_polars(variable.show_if).fill_null(False)).then(value)
            dtype = pl.Float64 if variable.value_type in ("number", "boolean") else None
            result = result.with_columns(
                (value.cast(dtype) if dtype is not None else value).alias(variable.name)
            )
    return result


def _status(
    frame: pl.DataFrame,
    dictionary: Dictionary,
    description: SyntheticDescription,
    event_day: np.ndarray,
    last_day: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Drafts where a shown required field is blank or a rule fails; else drafts, locked and
    complete records by the described shares."""
    problems = []
    for variable in dictionary.variables:
        shown = (
            pl.lit(True)
            if variable.show_if is None
            else to_polars(variable.show_if).fill_null(False)
        )
        if variable.required:
            problems.append(shown & pl.col(variable.name).is_null())
        for rule in variable.validations:
            problems.append(shown & (to_polars(rule.expression) == False))  # noqa: E712
    failing = frame.select(pl.any_horizontal(problems).fill_null(False)).to_series().to_numpy()
    u = rng.random(len(event_day))
    draft = failing | (u < description.draft_share)
    locked = ~draft & (u > 1.0 - description.locked_share) & (event_day < last_day - 180)
    return np.where(draft, "draft", np.where(locked, "locked", "complete"))


def _patients(
    registrations: pl.DataFrame,
    description: SyntheticDescription,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """One patient per registration, born `age` whole years and a fraction before the event."""
    n = registrations.height
    age = registrations[description.patient_age].fill_null(80).cast(pl.Float64).to_numpy()
    event = registrations["event_date"].cast(pl.Int32).to_numpy()
    birth = event - np.floor((age + rng.uniform(0.01, 0.99, n)) * 365.2425).astype(np.int64)
    female = registrations[description.patient_sex].to_numpy() == description.female_code
    return pl.DataFrame(
        [
            pl.Series("patient_index", np.arange(n), dtype=pl.Int64),
            pl.Series("birth_date", birth.astype(np.int32)).cast(pl.Date),
            pl.Series("sex", np.where(female, "female", "male"), dtype=pl.String),
        ]
    )


def _truth(
    description: SyntheticDescription,
    seed: int,
    unit_ids: np.ndarray,
    weight: np.ndarray,
    effects: dict[str, np.ndarray],
    ui: np.ndarray,
    coverage: dict[str, dict[str, float]],
) -> dict[str, Any]:
    count = np.bincount(ui, minlength=len(unit_ids))
    return {
        "generator": "entry.synthetic_data",
        "description": str(description.path),
        "seed": seed,
        "first_year": description.first_year,
        "last_date": description.last_date.isoformat(),
        "effects_scale": "added to the linear predictor (log-odds, log or mean) of the "
        "distributions that name the effect",
        "units": {
            str(unit): {
                "volume_weight": round(float(weight[i]), 4),
                "registrations": int(count[i]),
                "effects": {k: round(float(a[i]), 4) for k, a in effects.items()},
            }
            for i, unit in enumerate(unit_ids)
        },
        "coverage": coverage,
        "models": _plain(description.raw),
    }


def _plain(value: Any) -> Any:
    """The description as JSON can hold it (dates as text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _pick(table: Any, u: np.ndarray) -> np.ndarray:
    codes = np.asarray([float(c) for c in table], dtype=float)
    cumulative = np.cumsum(np.asarray(list(table.values()), dtype=float))
    return codes[np.minimum(np.searchsorted(cumulative, u, side="right"), len(codes) - 1)]


def _expit(x: np.ndarray | float) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(x))))


def _centred(weight: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.asarray(values - np.average(values, weights=weight))
