"""The demo stroke registry's results as an analyst would compute them: pandas + statsmodels.

`benchmarks/engine.py` times this against `indicators.compute_results` and checks that the
two agree on every number. It is written to be read, not to be fast, and it shares no code
with the engine: the indicators' expressions are translated by hand into pandas masks (the
definitions' other keys — type, targets, minimum, risk model — are read from the same
`Indicator` objects); each registration is merged with its unit's ancestors and every level
is its own group-by; risk models are fitted with statsmodels' formula API on single
registrations, one GLM per indicator and year; intervals and funnel limits come from scipy.

It follows the engine's documented definitions (docs/methods.md, indicators/risk.py):

- a comparison with a blank value is unknown, and unknown counts as "not in" a denominator
  or numerator, which is what pandas' comparisons with NaN give;
- a mean's or median's denominator is the number of known values in its denominator;
- risk models: every registration in the denominator is in the model; a missing numeric
  covariate is set to the period's median (of those registrations) and flagged by a 0/1
  term `<name>_missing`; a missing category is its own level `missing`; the reference level
  of a category is its most frequent one (ties by name); terms that do not vary in the
  period are left out; expected = the sum of the model's predictions;
- O/E with exact Poisson limits below 10 observed and Byar's from 10; risk-standardised =
  O/E × the nation's crude estimate; the target level judges that for adjusted indicators;
- funnels per indicator, period and level (Spiegelhalter 2005 as FunnelPlotR computes them);
- suppression: primary under the minimum, then secondary until no parent–children sum has
  exactly one hidden member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from indicators.definition import Indicator

LEVELS = ["nation", "region", "trust", "hospital", "department"]
KEY = ["indicator", "period", "unit_id"]
TRIM = 0.1

Mask = Callable[[pd.DataFrame], pd.Series]


def everyone(d: pd.DataFrame) -> pd.Series:
    return pd.Series(True, index=d.index)


# The expressions of registries/stroke/indicators.yaml, written out by hand.
DENOMINATORS: dict[str, Mask] = {
    "thrombolysis": lambda d: (
        (d.stroke_type == 1)
        & d.age.between(18, 80)
        & (d.onset_known == 1)
        & d.onset_to_arrival_minutes.between(0, 240)
    ),
    "door_to_needle_40": lambda d: (d.thrombolysis == 1) & d.door_to_needle_minutes.notna(),
    "door_to_needle_median": lambda d: d.thrombolysis == 1,
    "stroke_unit": everyone,
    "swallow_screening": everyone,
    "antithrombotic_discharge": lambda d: (d.stroke_type == 1) & (d.died_in_hospital == 0),
    "anticoagulant_atrial_fibrillation": lambda d: (
        (d.stroke_type == 1) & (d.atrial_fibrillation == 1) & (d.died_in_hospital == 0)
    ),
    "survival_30_days": everyone,
    "followup_3m": lambda d: d.alive_30_days == 1,
    "independent_3m": lambda d: (d.followup_done == 1) & (d.prestroke_mrs <= 2),
    "length_of_stay": lambda d: d.died_in_hospital == 0,
    "prom_response_3m": lambda d: d.prom_3m_invited == 1,
    "eq5d_index_3m": lambda d: (d.prom_3m_answered == 1) & d.eq5d_index_3m.notna(),
}
NUMERATORS: dict[str, Mask] = {
    "thrombolysis": lambda d: d.thrombolysis == 1,
    "door_to_needle_40": lambda d: d.door_to_needle_minutes <= 40,
    "stroke_unit": lambda d: d.stroke_unit == 1,
    "swallow_screening": lambda d: d.swallow_screening == 1,
    "antithrombotic_discharge": lambda d: d.antithrombotic_discharge == 1,
    "anticoagulant_atrial_fibrillation": lambda d: d.anticoagulant_discharge == 1,
    "survival_30_days": lambda d: d.alive_30_days == 1,
    "followup_3m": lambda d: d.followup_done == 1,
    "independent_3m": lambda d: d.mrs_3m <= 2,
    "prom_response_3m": lambda d: d.prom_3m_answered == 1,
}
VALUES: dict[str, str] = {
    "door_to_needle_median": "door_to_needle_minutes",
    "length_of_stay": "length_of_stay",
    "eq5d_index_3m": "eq5d_index_3m",
}


def unit_levels(units: pd.DataFrame) -> pd.DataFrame:
    """One row per unit with the id of its ancestor (or itself) at each level, NaN if none."""
    tree = units[["unit_id", "parent_id", "level"]].astype({"level": str})
    pairs = tree[["unit_id"]].assign(ancestor_id=tree["unit_id"])
    found = [pairs]
    for _ in LEVELS[1:]:
        pairs = pairs.merge(
            tree[["unit_id", "parent_id"]].rename(columns={"unit_id": "ancestor_id"}),
            on="ancestor_id",
        )
        pairs = pairs.dropna(subset=["parent_id"])[["unit_id", "parent_id"]]
        pairs = pairs.rename(columns={"parent_id": "ancestor_id"})
        found.append(pairs)
    every = pd.concat(found).merge(
        tree[["unit_id", "level"]].rename(columns={"unit_id": "ancestor_id"}), on="ancestor_id"
    )
    return every.pivot(index="unit_id", columns="level", values="ancestor_id").reset_index()


# --- statistics, one formula each ---------------------------------------------------------


def wilson(x: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = stats.norm.ppf(0.975)
    centre = 2 * x + z**2
    half = z * np.sqrt(z**2 + 4 * x * (1 - x / n))
    return (centre - half) / (2 * (n + z**2)), (centre + half) / (2 * (n + z**2))


def poisson_exact(x: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1 - confidence) / 2
    lower = np.where(x > 0, stats.chi2.ppf(alpha, 2 * np.maximum(x, 1e-300)) / 2, 0.0)
    return lower, stats.chi2.ppf(1 - alpha, 2 * x + 2) / 2


def byar(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = stats.norm.ppf(0.975)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = x * (1 - 1 / (9 * x) - z / (3 * np.sqrt(x))) ** 3
    upper = (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * np.sqrt(x + 1))) ** 3
    return np.where(lower >= 0, lower, np.nan), upper


def median_with_interval(values: pd.Series) -> pd.Series:
    """The median and the distribution-free interval between two order statistics."""
    x = np.sort(values.to_numpy())
    n = len(x)
    j = int(stats.binom.ppf(0.025, n, 0.5))
    k = n + 1 - j
    j, k = min(max(j, 1), n), min(max(k, 1), n)
    median = (x[(n - 1) // 2] + x[n // 2]) / 2
    return pd.Series({"estimate": median, "lower": x[j - 1], "upper": x[k - 1]})


# --- counting -------------------------------------------------------------------------------


def by_level(
    rows: pd.DataFrame, aggregate: Callable[[pd.core.groupby.DataFrameGroupBy], pd.DataFrame]
) -> pd.DataFrame:
    """`aggregate` applied to the rows grouped by unit and year, for every level in turn."""
    found = []
    for level in LEVELS:
        per_unit = aggregate(rows.groupby([level, "period"]))
        per_unit = per_unit.reset_index().rename(columns={level: "unit_id"})
        found.append(per_unit.assign(level=level))
    return pd.concat(found, ignore_index=True)


def counts(data: pd.DataFrame, indicator: Indicator) -> pd.DataFrame:
    """Denominator, numerator or value statistics of one indicator at every unit."""
    key = indicator.key
    counted = data[DENOMINATORS[key](data)]
    if indicator.type == "proportion":
        counted = counted.assign(hit=NUMERATORS[key](counted).astype(int))
        found = by_level(
            counted,
            lambda groups: groups.agg(denominator=("hit", "size"), numerator=("hit", "sum")),
        )
        found["estimate"] = found["numerator"] / found["denominator"]
        found["lower"], found["upper"] = wilson(found["numerator"], found["denominator"])
        return found
    known = counted.dropna(subset=[VALUES[key]])
    if indicator.type == "mean":
        found = by_level(
            known,
            lambda groups: groups[VALUES[key]].agg(["size", "mean", "std"]),
        ).rename(columns={"size": "denominator", "mean": "estimate"})
        t = stats.t.ppf(0.975, found["denominator"] - 1)
        half = t * found["std"] / np.sqrt(found["denominator"])
        found["lower"], found["upper"] = found["estimate"] - half, found["estimate"] + half
        return found.drop(columns="std")
    found = by_level(
        known,
        lambda groups: groups[VALUES[key]].apply(median_with_interval).unstack(),
    )
    sizes = by_level(known, lambda groups: groups.size().to_frame("denominator"))
    return found.merge(sizes, on=["unit_id", "period", "level"])


# --- risk adjustment -------------------------------------------------------------------------


def expected_per_registration(rows: pd.DataFrame, indicator: Indicator) -> pd.Series:
    """Each registration's expected outcome from the nation's model of its year."""
    model = indicator.risk_model
    assert model is not None and model.family is not None
    family = sm.families.Binomial() if model.family == "binomial" else sm.families.Poisson()
    expected = pd.Series(np.nan, index=rows.index)
    for _, year in rows.groupby("period"):
        year = year.copy()
        terms = []
        for name in model.covariates:
            if name in model.categorical:
                level = year[name].astype("Int64").astype("string").fillna("missing")
                year[name] = level.astype("category")
                frequency = level.value_counts().reset_index()
                frequency = frequency.sort_values(["count", name], ascending=[False, True])
                if len(frequency) > 1:
                    reference = frequency[name].iloc[0]
                    terms.append(f'C({name}, Treatment(reference="{reference}"))')
                continue
            missing = year[name].isna()
            year[name] = year[name].fillna(year[name].median()).fillna(0.0)
            year[name + "_missing"] = missing.astype(float)
            if year[name].nunique() > 1:
                terms.append(name)
            if missing.nunique() > 1:
                terms.append(name + "_missing")
        formula = "outcome ~ " + (" + ".join(terms) or "1")
        fit = smf.glm(formula, data=year, family=family).fit()
        expected[year.index] = fit.fittedvalues
    return expected


def observed_expected(data: pd.DataFrame, indicator: Indicator) -> pd.DataFrame:
    key, model = indicator.key, indicator.risk_model
    assert model is not None
    rows = data[DENOMINATORS[key](data)]
    if indicator.type == "proportion":
        rows = rows.assign(outcome=NUMERATORS[key](rows).astype(float))
    else:
        rows = rows.dropna(subset=[VALUES[key]]).assign(outcome=lambda d: d[VALUES[key]])
    if model.expected:
        rows = rows.dropna(subset=[model.expected]).assign(predicted=lambda d: d[model.expected])
    else:
        rows = rows.assign(predicted=expected_per_registration(rows, indicator))
    return by_level(
        rows,
        lambda groups: groups.agg(observed=("outcome", "sum"), expected=("predicted", "sum")),
    )


# --- funnels ----------------------------------------------------------------------------------


def _dispersion(z: np.ndarray, weight: np.ndarray) -> float:
    """DerSimonian–Laird τ² from the (winsorised or truncated) z-scores."""
    keep = np.isfinite(z)
    z, weight = z[keep], weight[keep]
    m = len(z)
    if m < 2:
        return 0.0
    phi = np.mean(z**2)
    if m * phi < m - 1:
        return 0.0
    return max(0.0, (m * phi - (m - 1)) / (weight.sum() - (weight**2).sum() / weight.sum()))


def proportion_funnel(x: np.ndarray, n: np.ndarray, overdispersion: bool) -> dict[str, np.ndarray]:
    target = x.sum() / n.sum()
    angle = np.arcsin(np.sqrt(target))
    s = 1 / (2 * np.sqrt(n))
    z = (np.arcsin(np.sqrt(x / n)) - angle) / s
    low, high = np.quantile(z, [TRIM, 1 - TRIM])
    tau2 = _dispersion(np.clip(z, low, high), 1 / s**2) if overdispersion else 0.0
    spread = np.sqrt(s**2 + tau2)
    limits = {}
    for name, confidence in (("95", 0.95), ("998", 0.998)):
        z_c = stats.norm.ppf(0.5 + confidence / 2)
        limits["lower_" + name] = np.sin(np.clip(angle - z_c * spread, 0, np.pi / 2)) ** 2
        limits["upper_" + name] = np.sin(np.clip(angle + z_c * spread, 0, np.pi / 2)) ** 2
    return limits


def ratio_funnel(o: np.ndarray, e: np.ndarray, overdispersion: bool) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore"):
        z = np.sqrt(e) * np.log(o / e)
    rank = stats.rankdata(z)
    group = np.floor(rank * 10 / (len(z) + 1))
    truncated = np.where((group > 0) & (group < 9), z, np.nan)
    tau2 = _dispersion(truncated, e) if overdispersion else 0.0
    limits = {}
    for name, confidence in (("95", 0.95), ("998", 0.998)):
        if tau2 > 0:
            z_c = stats.norm.ppf(0.5 + confidence / 2)
            limits["lower_" + name] = np.exp(-z_c * np.sqrt(1 / e + tau2))
            limits["upper_" + name] = np.exp(z_c * np.sqrt(1 / e + tau2))
        else:
            lower, upper = poisson_exact(e, confidence)
            limits["lower_" + name], limits["upper_" + name] = lower / e, upper / e
    return limits


def funnel(group: pd.DataFrame, indicator: Indicator) -> pd.DataFrame:
    """Limits and position of each unit among the units of its level in one period."""
    overdispersion = indicator.funnel.overdispersion
    if indicator.risk_model is not None:
        value = group["oe_ratio"].to_numpy()
        limits = ratio_funnel(
            group["observed"].to_numpy(), group["expected"].to_numpy(), overdispersion
        )
    else:
        value = group["estimate"].to_numpy()
        limits = proportion_funnel(
            group["numerator"].to_numpy(float), group["denominator"].to_numpy(float), overdispersion
        )
    out = pd.DataFrame(
        {"funnel_" + name: limit for name, limit in limits.items()}, index=group.index
    )
    position = np.select(
        [
            value > limits["upper_998"],
            value > limits["upper_95"],
            value < limits["lower_998"],
            value < limits["lower_95"],
        ],
        ["high_998", "high_95", "low_998", "low_95"],
        "within",
    ).astype(object)
    position[np.isnan(value) | np.isnan(limits["lower_95"]) | np.isnan(limits["upper_95"])] = None
    out["funnel_position"] = position
    return out


# --- target levels and suppression ------------------------------------------------------------


def achievement(results: pd.DataFrame, indicator: Indicator) -> pd.Series:
    judged = results["risk_standardised"] if indicator.risk_model else results["estimate"]
    level = pd.Series(None, index=results.index, dtype=object)
    if indicator.targets is None:
        return level
    high, moderate = indicator.targets.high, indicator.targets.moderate
    if indicator.direction == "higher":
        reaches_high, misses_moderate = judged >= high, judged < moderate
    else:
        reaches_high, misses_moderate = judged <= high, judged > moderate
    level[:] = np.select([reaches_high, misses_moderate], ["high", "low"], "moderate")
    return level.where((results["denominator"] >= indicator.min_denominator) & judged.notna())


def suppressed(results: pd.DataFrame, units: pd.DataFrame) -> pd.Series:
    """Primary suppression, then secondary until no sum has exactly one hidden member.

    Each parent with its children is one sum a reader can subtract. Where exactly one member
    of a sum is hidden, hide the smallest shown child too (or, with no other child, the
    parent, but never the nation); repeat until nothing changes.
    """
    sum_key = ["indicator", "period", "parent_id"]
    rows = results[["indicator", "period", "unit_id", "denominator", "min_denominator"]]
    rows = rows.astype({"unit_id": float}).merge(
        units[["unit_id", "parent_id"]].astype(float), on="unit_id", how="left"
    )
    rows.index = results.index
    rows["hidden"] = rows["denominator"] < rows["min_denominator"]
    rows = rows.sort_values(["denominator", "unit_id"])
    while True:
        children = rows[rows["parent_id"].notna()]
        sums = children.groupby(sum_key).agg(
            hidden_children=("hidden", "sum"), children=("hidden", "size")
        )
        shown = children[~children["hidden"]]
        sums["smallest_shown"] = shown.groupby(sum_key)["unit_id"].first()
        parents = rows[["indicator", "period", "unit_id", "parent_id", "hidden"]].rename(
            columns={
                "parent_id": "grandparent_id",
                "unit_id": "parent_id",
                "hidden": "parent_hidden",
            }
        )
        sums = sums.reset_index().merge(parents, on=sum_key, how="left")
        sums = sums[sums["hidden_children"] + sums["parent_hidden"] == 1]
        hide_parent = ~sums["parent_hidden"] & sums["grandparent_id"].notna()
        to_hide = sums["smallest_shown"].where(
            sums["hidden_children"] < sums["children"],
            sums["parent_id"].where(hide_parent),
        )
        targets = sums[["indicator", "period"]].assign(unit_id=to_hide).dropna()
        hit = rows.reset_index().merge(targets.drop_duplicates(), on=KEY).set_index("index")
        newly = hit.index[~hit["hidden"]]
        if len(newly) == 0:
            return rows["hidden"].reindex(results.index)
        rows.loc[newly, "hidden"] = True


# --- everything -------------------------------------------------------------------------------


def compute_results(
    registrations: pd.DataFrame, units: pd.DataFrame, indicators: Sequence[Indicator]
) -> pd.DataFrame:
    """Every indicator for every year and every unit at every level, as the engine's columns."""
    unknown = [i.key for i in indicators if i.key not in DENOMINATORS]
    if unknown:
        raise ValueError(f"the pandas baseline has no hand-written definition of {unknown}")
    data = registrations.assign(period=registrations["event_date"].dt.year)
    data = data.dropna(subset=["period"]).merge(unit_levels(units), on="unit_id", how="left")
    tables = []
    for indicator in indicators:
        results = counts(data, indicator)
        if indicator.risk_model is not None:
            results = results.merge(
                observed_expected(data, indicator), on=["unit_id", "period", "level"], how="left"
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                o, e = results["observed"].to_numpy(), results["expected"].to_numpy()
                exact, byars = poisson_exact(o, 0.95), byar(o)
                results["oe_ratio"] = o / e
                results["oe_lower"] = np.where(o < 10, exact[0], byars[0]) / e
                results["oe_upper"] = np.where(o < 10, exact[1], byars[1]) / e
            nation = results[results["level"] == "nation"].set_index("period")["estimate"]
            results["risk_standardised"] = results["oe_ratio"] * results["period"].map(nation)
        else:
            for column in ("observed", "expected", "oe_ratio", "oe_lower", "oe_upper"):
                results[column] = np.nan
            results["risk_standardised"] = np.nan
        results["indicator"] = indicator.key
        results["min_denominator"] = indicator.min_denominator
        results["coverage"] = np.nan
        results["achievement"] = achievement(results, indicator)
        if indicator.risk_model is not None or indicator.type == "proportion":
            peers = results.groupby(["period", "level"]).filter(lambda g: len(g) >= 2)
            limits = peers.groupby(["period", "level"], group_keys=False).apply(
                funnel, indicator=indicator
            )
            results = results.join(limits)
        tables.append(results)
    results = pd.concat(tables, ignore_index=True)
    results["unit_id"] = results["unit_id"].astype("int64")
    results["period"] = results["period"].astype("int64")
    results["suppressed"] = suppressed(results, units)
    results["order"] = results["indicator"].map({i.key: n for n, i in enumerate(indicators)})
    results["level_order"] = results["level"].map(LEVELS.index)
    results = results.sort_values(["order", "period", "level_order", "unit_id"])
    return results.reset_index(drop=True)
