"""Synthetic data for the demo stroke registry: deterministic, vectorised, every patient invented.

`generate` plays a small world forwards. Departments differ in size, in case mix and in a
planted true quality; patients have strokes, are treated, live or die by logistic models;
then the registry sees only part of it: some patients are never registered (coverage,
dekningsgrad), some values are missing, recent episodes are drafts and follow-up is not yet
due. The planted effects are returned as `StrokeDemo.truth`, the answer that risk adjustment
is tested against.

The 3-month patient questionnaire (registries/stroke/questionnaires.yaml) is played too:
patients discharged alive and alive at 90 days are invited, about two in three answer (fewer
of the very dependent, and departments differ), and the answers agree with the patient's mRS
and are scored by the same rules as real responses (`entry.scoring`'s instruments).

The function is pure: a seeded numpy Generator and polars, no files and no clock, so the same
arguments give the same frames and truth. Every step works on whole arrays; nothing loops over
rows, so a million registrations take a few seconds.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from entry.instruments import eq5d5l, mrs_simplified
from entry.synthetic_data import SyntheticDemo

GENERATOR_VERSION = 2

UNIVERSITY_HOSPITALS = ("Ullevål", "Haukeland", "St. Olavs", "Tromsø", "Stavanger", "Ahus")
"""Short names of the hospitals that get large volumes, sicker patients and thrombectomy."""

VARIABLE_TYPES: dict[str, str] = {
    "admission_date": "date",
    "arrival_datetime": "datetime",
    "onset_known": "yesno",
    "onset_datetime": "datetime",
    "onset_to_arrival_minutes": "calculated",
    "age": "integer",
    "sex": "single",
    "living_alone": "yesno",
    "prestroke_mrs": "single",
    "prior_stroke": "yesno",
    "atrial_fibrillation": "yesno",
    "hypertension": "yesno",
    "diabetes": "yesno",
    "smoker": "yesno",
    "anticoagulant_before": "yesno",
    "nihss_admission": "integer",
    "glucose_admission": "decimal",
    "stroke_type": "single",
    "thrombolysis": "yesno",
    "thrombolysis_datetime": "datetime",
    "door_to_needle_minutes": "calculated",
    "thrombectomy": "yesno",
    "no_thrombolysis_reason": "single",
    "stroke_unit": "yesno",
    "swallow_screening": "yesno",
    "discharge_date": "date",
    "length_of_stay": "calculated",
    "died_in_hospital": "yesno",
    "discharge_destination": "single",
    "mrs_discharge": "single",
    "antithrombotic_discharge": "yesno",
    "anticoagulant_discharge": "yesno",
    "statin_discharge": "yesno",
    "death_date": "date",
    "alive_30_days": "calculated",
    "followup_done": "yesno",
    "followup_date": "date",
    "followup_method": "single",
    "mrs_3m": "single",
    "living_situation_3m": "single",
    "new_stroke_3m": "yesno",
    "smoking_3m": "yesno",
    "satisfied_care": "single",
    "prom_3m_invited": "yesno",
    "prom_3m_answered": "yesno",
    "prom_3m_version": "integer",
    "mrs_constant_care_3m": "yesno",
    "mrs_walk_unaided_3m": "yesno",
    "mrs_own_affairs_3m": "yesno",
    "mrs_usual_activities_3m": "yesno",
    "mrs_symptoms_3m": "yesno",
    "eq5d_mobility_3m": "single",
    "eq5d_selfcare_3m": "single",
    "eq5d_activities_3m": "single",
    "eq5d_pain_3m": "single",
    "eq5d_anxiety_3m": "single",
    "eq_vas_3m": "integer",
    "eq5d_index_3m": "decimal",
    "bp_medication_3m": "yesno",
    "antithrombotic_3m": "yesno",
}
"""The dictionary's variables and types, in dictionary order (a test holds the two together)."""

COLUMN_DTYPES: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "time": pl.Time(),
    "integer": pl.Int64(),
    "yesno": pl.Int64(),
    "single": pl.Int64(),
    "decimal": pl.Float64(),
    "calculated": pl.Float64(),
    "text": pl.String(),
    "notes": pl.String(),
}
"""The polars dtype of a column for each dictionary type; calculated values are numbers."""

# --- the planted world: model coefficients ---------------------------------------------------
# Linear predictors are on the log-odds scale (death and mRS centre age at 75 and NIHSS at 5,
# thrombolysis age at 70); each gets the department's planted effect added. They are returned
# in `truth["models"]`.

THROMBOLYSIS: dict[str, float] = {
    "intercept": 0.1,
    "age_per_year_over_70": -0.025,
    "nihss_0_to_2": -1.3,
    "nihss_6_or_more": 0.3,
    "anticoagulant_before": -2.2,
    "prestroke_mrs_3_or_more": -0.8,
    "per_minute_onset_to_arrival_over_120": -0.004,
    "outside_window_unknown_onset": 0.03,
    "outside_window_late": 0.004,
}
DEATH_30D: dict[str, Any] = {
    "intercept": -3.6,
    "age_per_year": 0.055,
    "nihss_per_point": 0.11,
    "atrial_fibrillation": 0.3,
    "prior_stroke": 0.25,
    "female": -0.05,
    "intracerebral_haemorrhage": 1.1,
    "unspecified_stroke": 0.5,
    "prestroke_mrs": [0.0, 0.2, 0.45, 0.8, 1.2, 1.6],
}
MRS_3M: dict[str, Any] = {
    "cut_points": [-1.9, -0.45, 0.7, 1.7, 3.0],
    "nihss_per_point": 0.14,
    "age_per_year": 0.045,
    "atrial_fibrillation": 0.2,
    "prior_stroke": 0.25,
    "female": 0.15,
    "intracerebral_haemorrhage": 0.7,
    "unspecified_stroke": 0.3,
    "prestroke_mrs": [0.0, 0.4, 0.9, 1.6, 2.4, 3.0],
}
PRESTROKE_MRS_CUTS = [-0.2, 0.62, 1.27, 2.2, 3.9]
PROM_RESPONSE: dict[str, float] = {
    "intercept": 0.75,
    "mrs_4_or_more": -0.6,
    "age_per_year_over_75": -0.015,
    "phone_follow_up_of_non_responders": 0.55,
}
"""Log-odds of answering the questionnaire once invited (the department's effect is added),
and the share of non-responders the hospital still follows up by telephone or letter."""
EQ5D_MEAN_LEVELS: dict[str, list[float]] = {
    "mobility": [1.05, 1.3, 1.8, 2.8, 3.9, 4.6],
    "selfcare": [1.0, 1.1, 1.4, 2.3, 3.7, 4.6],
    "activities": [1.05, 1.4, 2.2, 3.0, 4.0, 4.7],
    "pain": [1.4, 1.7, 1.9, 2.2, 2.5, 2.7],
    "anxiety": [1.3, 1.6, 1.8, 2.0, 2.3, 2.5],
}
"""Mean EQ-5D-5L level of each dimension by mRS 0 to 5 at 3 months; a patient's levels add
a shared and a per-dimension normal deviation (SD 0.35 and 0.55) and are rounded into 1–5."""
MISSING_RATES: dict[str, float] = {
    "arrival_datetime": 0.01,
    "living_alone": 0.02,
    "prestroke_mrs": 0.02,
    "prior_stroke": 0.01,
    "atrial_fibrillation": 0.01,
    "hypertension": 0.015,
    "diabetes": 0.015,
    "smoker": 0.04,
    "anticoagulant_before": 0.015,
    "glucose_admission": 0.07,
    "thrombectomy": 0.01,
    "no_thrombolysis_reason": 0.05,
    "stroke_unit": 0.005,
    "swallow_screening": 0.02,
    "mrs_discharge": 0.03,
    "antithrombotic_discharge": 0.015,
    "anticoagulant_discharge": 0.015,
    "statin_discharge": 0.02,
    "followup_method": 0.01,
    "mrs_3m": 0.02,
    "living_situation_3m": 0.02,
    "new_stroke_3m": 0.02,
    "smoking_3m": 0.03,
    "satisfied_care": 0.10,
    "eq5d_mobility_3m": 0.01,
    "eq5d_selfcare_3m": 0.01,
    "eq5d_activities_3m": 0.01,
    "eq5d_pain_3m": 0.01,
    "eq5d_anxiety_3m": 0.01,
    "eq_vas_3m": 0.03,
    "bp_medication_3m": 0.02,
    "antithrombotic_3m": 0.02,
}
"""Share of values missing at random where the field is shown; NIHSS varies by department."""

SECOND_EPISODE_SHARE = 0.062
"""Share of registrations that are a patient's second stroke (6.6 % of patients have two)."""

PROM_ANSWERS = (
    *(f"mrs_{item}_3m" for item in mrs_simplified.ITEMS),
    *(f"eq5d_{dimension}_3m" for dimension in eq5d5l.DIMENSIONS),
    "eq_vas_3m",
)
"""The questionnaire's answers, blank unless the patient answered (stored under these names)."""

_EPOCH = date(1970, 1, 1)
_MINUTES_PER_DAY = 1440


StrokeDemo = SyntheticDemo
"""What `generate` returns, as every registry's generator does (`entry.synthetic_data`);
see DESIGN.md, "The demo registry"."""


@dataclass(frozen=True)
class _Departments:
    unit_id: np.ndarray
    university: np.ndarray
    weight: np.ndarray
    case_mix: dict[str, np.ndarray]
    effects: dict[str, np.ndarray]
    nihss_missing: np.ndarray


def generate(
    units: pl.DataFrame,
    registrations: int,
    seed: int,
    first_year: int = 2021,
    last_date: date = date(2026, 10, 31),
) -> StrokeDemo:
    """Exactly `registrations` synthetic stroke episodes at the departments of `units`.

    `units` is the org tree (`unit_id`, `parent_id`, `level`, `short_name`); episodes go to
    its departments, admitted from 1 January `first_year` to `last_date`, the end of the data.
    """
    if registrations < 1:
        raise ValueError("registrations must be at least 1")
    first_day, last_day = _day(date(first_year, 1, 1)), _day(last_date)
    if last_day < first_day:
        raise ValueError("last_date is before the first year")
    rng = np.random.default_rng(seed)
    # The questionnaire draws from a stream of its own, so adding it left every other value
    # of a seed as it was.
    prom_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    departments = _departments(units, rng)
    departments.effects["prom_response_log_odds"] = _centred(
        departments.weight, prom_rng.normal(0.0, 0.4, len(departments.unit_id))
    )
    years = np.arange(first_year, last_date.year + 1)
    ui, admission, coverage, coverage_truth = _volumes(
        departments, registrations, years, last_day, rng
    )
    world = _patients(departments, ui, admission, rng)
    world |= _acute_care(departments, ui, world, rng)
    world |= _outcomes(departments, ui, world, rng)
    first, second = _second_episodes(ui, world, rng)
    world = _link_episodes(world, first, second)
    world |= _follow_up(departments, ui, world, first, second, last_day, rng)
    world |= _questionnaire(departments, ui, world, last_day, prom_rng)
    values, status = _observe(departments, ui, world, last_day, rng)

    order = np.lexsort((world["arrival"], departments.unit_id[ui], world["admission"]))
    patient_of = np.arange(registrations)
    patient_of[second] = first
    patient_index, first_rows = _number_patients(patient_of[order])
    frame = pl.DataFrame(
        [
            pl.Series("patient_index", patient_index, dtype=pl.Int64),
            pl.Series("unit_id", departments.unit_id[ui][order], dtype=pl.Int64),
            pl.Series("event_date", world["admission"][order].astype(np.int32)).cast(pl.Date),
            pl.Series("status", np.where(status, "draft", "complete")[order], dtype=pl.String),
            *(_column(name, values[name][order], kind) for name, kind in VARIABLE_TYPES.items()),
        ]
    )
    episode = order[first_rows]
    patients = pl.DataFrame(
        [
            pl.Series("patient_index", np.arange(len(first_rows)), dtype=pl.Int64),
            pl.Series("birth_date", world["birth"][episode].astype(np.int32)).cast(pl.Date),
            pl.Series("sex", np.where(world["female"][episode], "female", "male"), dtype=pl.String),
        ]
    )
    truth = _truth(departments, ui, world, coverage_truth, seed, first_year, last_date)
    truth["registrations"], truth["patients"] = registrations, patients.height
    return StrokeDemo(frame, patients, coverage, truth)


# --- the world ---------------------------------------------------------------------------


def _departments(units: pl.DataFrame, rng: np.random.Generator) -> _Departments:
    missing = {"unit_id", "parent_id", "level", "short_name"} - set(units.columns)
    if missing:
        raise ValueError(f"units lacks the columns {sorted(missing)}")
    tree = units.select(
        pl.col("unit_id").cast(pl.Int64),
        pl.col("parent_id").cast(pl.Int64),
        pl.col("level").cast(pl.String),
        pl.col("short_name").cast(pl.String),
    )
    parents = tree.select(
        pl.col("unit_id").alias("parent_id"), pl.col("short_name").alias("parent_short_name")
    )
    departments = (
        tree.filter(pl.col("level") == "department")
        .join(parents, on="parent_id", how="left")
        .sort("unit_id")
    )
    d = departments.height
    if d == 0:
        raise ValueError("the unit tree has no departments")
    university = (
        departments["parent_short_name"].is_in(UNIVERSITY_HOSPITALS)
        | departments["short_name"].is_in(UNIVERSITY_HOSPITALS)
    ).to_numpy()
    if not university.any():  # a tree without the big six: make every eighth unit big
        university = np.zeros(d, dtype=bool)
        university[rng.choice(d, size=max(1, round(d / 8)), replace=False)] = True
    weight = np.exp(rng.normal(0.0, 0.7, d))
    weight = np.where(rng.random(d) < 0.2, 0.25 * weight, weight)
    weight = np.where(university, rng.uniform(10.0, 16.0, d), weight)
    big = university.astype(float)
    case_mix = {
        "age_offset": np.clip(rng.normal(0.0, 3.0, d), -5.0, 5.0) - 2.0 * big,
        "nihss_ratio": np.exp(rng.normal(0.0, 0.2, d) + 0.12 * big),
        "atrial_fibrillation_log_odds": rng.normal(0.0, 0.3, d),
        "prestroke_mrs_shift": rng.normal(0.0, 0.4, d),
    }
    # University hospitals are both sicker and better, so case mix and quality correlate weakly.
    # Effects are centred on the volume-weighted mean, so national rates stay near their targets.
    effects = {
        "thrombolysis_log_odds": _centred(weight, rng.normal(0.0, 0.45, d) + 0.25 * big),
        "door_to_needle_log_ratio": _centred(weight, rng.normal(0.0, 0.25, d) - 0.1 * big),
        "stroke_unit_log_odds": _centred(weight, rng.normal(0.0, 0.7, d)),
        "swallow_screening_log_odds": _centred(weight, rng.normal(0.0, 0.6, d)),
        "death_30d_log_odds": _centred(weight, rng.normal(0.0, 0.3, d) - 0.1 * big),
        "independent_3m_log_odds": _centred(weight, rng.normal(0.0, 0.3, d) + 0.1 * big),
        "length_of_stay_log_ratio": _centred(weight, rng.normal(0.0, 0.2, d)),
        "followup_log_odds": _centred(weight, rng.normal(0.0, 0.5, d)),
        "secondary_prevention_log_odds": _centred(weight, rng.normal(0.0, 0.4, d)),
    }
    nihss_missing = np.exp(rng.normal(0.0, 0.5, d))
    nihss_missing = np.minimum(
        0.05 * nihss_missing / np.average(nihss_missing, weights=weight), 0.25
    )
    return _Departments(
        departments["unit_id"].to_numpy(), university, weight, case_mix, effects, nihss_missing
    )


def _volumes(
    departments: _Departments,
    n: int,
    years: np.ndarray,
    last_day: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, pl.DataFrame, dict[str, dict[str, float]]]:
    """Departments and admission dates of the registered episodes, and the eligible counts.

    True patients arrive as a Poisson process per unit and year; the registered ones are a
    thinning with the unit-year's coverage. Conditional on their total being `n`, registered
    counts are multinomial and unregistered ones independent Poisson, which is what is drawn.
    """
    d, y = len(departments.unit_id), len(years)
    starts = np.array([_day(date(int(year), 1, 1)) for year in years])
    ends = np.minimum([_day(date(int(year), 12, 31)) for year in years], last_day)
    days = ends - starts + 1
    planned = rng.uniform(0.85, 0.98, (d, y))
    # Low coverage goes to local departments big enough for it to show.
    local = ~departments.university
    candidates = np.flatnonzero(
        local & (departments.weight >= np.median(departments.weight[local]))
    )
    if candidates.size == 0:
        candidates = np.arange(d)
    low_units = rng.choice(candidates, size=min(3, max(1, d // 5), candidates.size), replace=False)
    for unit in low_units:  # at most three units, not rows
        run = min(int(rng.integers(1, 4)), y)
        start = int(rng.integers(0, y - run + 1))
        planned[unit, start : start + run] = rng.uniform(0.35, 0.58, run)
    expected = departments.weight[:, None] * days[None, :]
    registered_share = expected * planned
    counts = rng.multinomial(n, (registered_share / registered_share.sum()).ravel()).reshape(d, y)
    scale = n / registered_share.sum()
    eligible = counts + rng.poisson(scale * expected * (1.0 - planned))

    cell = np.repeat(np.arange(d * y), counts.ravel())
    ui, yi = cell // y, cell % y
    admission = starts[yi] + np.floor(rng.random(n) * days[yi]).astype(np.int64)

    unit_grid = np.repeat(departments.unit_id, y)
    year_grid = np.tile(years, d)
    kept = eligible.ravel() > 0
    coverage = pl.DataFrame(
        [
            pl.Series("unit_id", unit_grid[kept], dtype=pl.Int64),
            pl.Series("year", year_grid[kept], dtype=pl.Int32),
            pl.Series("eligible", eligible.ravel()[kept], dtype=pl.Int64),
        ]
    )
    share = counts.ravel()[kept] / eligible.ravel()[kept]
    truth: dict[str, dict[str, float]] = {}
    for unit, year, value in zip(unit_grid[kept], year_grid[kept], share, strict=True):
        truth.setdefault(str(unit), {})[str(year)] = round(float(value), 4)
    return ui, admission, coverage, truth


def _patients(
    departments: _Departments, ui: np.ndarray, admission: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Who has the stroke: demography, risk factors, severity and the timing of arrival."""
    n = len(ui)
    mix = departments.case_mix
    female = rng.random(n) < 0.46
    target_age = np.clip(
        np.floor(
            103.0 + mix["age_offset"][ui] + np.where(female, 2.0, -2.0) - rng.gamma(3.2, 8.2, n)
        ),
        18,
        104,
    )
    birth = admission - np.floor((target_age + rng.uniform(0.01, 0.99, n)) * 365.2425).astype(
        np.int64
    )
    birth = np.where(_age(birth, admission) < 18, birth - 366, birth)
    age = _age(birth, admission)
    centred_age = age - 75.0
    prestroke = _ordinal(
        0.045 * centred_age + mix["prestroke_mrs_shift"][ui] + rng.logistic(size=n),
        PRESTROKE_MRS_CUTS,
    )
    atrial_fibrillation = _bernoulli(
        rng, -1.2 + 0.06 * centred_age + mix["atrial_fibrillation_log_odds"][ui]
    )
    anticoagulant_before = np.where(
        atrial_fibrillation, _bernoulli(rng, np.full(n, 0.3)), _bernoulli(rng, np.full(n, -3.2))
    )
    u = rng.random(n)
    ischaemic_share = np.where(anticoagulant_before, 0.80, 0.855)
    stroke_type = 1 + (u > ischaemic_share).astype(int) + (u > 0.97).astype(int)
    nihss_mean = (
        5.5
        * mix["nihss_ratio"][ui]
        * np.exp(0.012 * centred_age)
        * np.where(stroke_type == 2, 1.6, 1.0)
    )
    nihss = np.minimum(rng.poisson(rng.gamma(0.9, nihss_mean / 0.9)), 42)
    diabetes = _bernoulli(rng, np.full(n, -1.5))
    arrival_minute = np.floor(rng.normal(13 * 60, 5 * 60, n)) % _MINUTES_PER_DAY
    onset_to_arrival = np.clip(
        np.round(np.exp(np.log(300.0) + 1.3 * rng.normal(size=n))), 10, 7 * 1440
    )
    arrival = admission * _MINUTES_PER_DAY + arrival_minute.astype(np.int64)
    return {
        "admission": admission,
        "birth": birth,
        "age": age,
        "female": female,
        "living_alone": _bernoulli(rng, -0.5 + 0.04 * centred_age + 0.5 * female),
        "prestroke_mrs": prestroke,
        "prior_stroke": _bernoulli(rng, -1.45 + 0.02 * centred_age),
        "atrial_fibrillation": atrial_fibrillation,
        "hypertension": _bernoulli(rng, 0.25 + 0.03 * centred_age),
        "diabetes": diabetes,
        "smoker": _bernoulli(rng, -1.5 - 0.05 * centred_age),
        "anticoagulant_before": anticoagulant_before,
        "nihss": nihss,
        "glucose": np.clip(
            np.round(np.exp(np.log(6.3) + 0.35 * diabetes + 0.2 * rng.normal(size=n)), 1), 2.0, 35.0
        ),
        "stroke_type": stroke_type,
        "onset_known": rng.random(n) < 0.75,
        "onset_to_arrival": onset_to_arrival,
        "arrival": arrival,
    }


def _acute_care(
    departments: _Departments, ui: np.ndarray, w: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Thrombolysis, its timing, thrombectomy and stroke-unit care."""
    n = len(ui)
    effects = departments.effects
    ischaemic = w["stroke_type"] == 1
    window = w["onset_known"] & (w["onset_to_arrival"] <= 270)
    t = THROMBOLYSIS
    linear = (
        t["intercept"]
        + effects["thrombolysis_log_odds"][ui]
        + t["age_per_year_over_70"] * (w["age"] - 70)
        + t["nihss_0_to_2"] * (w["nihss"] <= 2)
        + t["nihss_6_or_more"] * (w["nihss"] >= 6)
        + t["anticoagulant_before"] * w["anticoagulant_before"]
        + t["prestroke_mrs_3_or_more"] * (w["prestroke_mrs"] >= 3)
        + t["per_minute_onset_to_arrival_over_120"] * (w["onset_to_arrival"] - 120)
    )
    probability = np.where(
        window,
        _expit(linear),
        np.where(w["onset_known"], t["outside_window_late"], t["outside_window_unknown_onset"]),
    )
    thrombolysis = ischaemic & (rng.random(n) < probability)
    door_to_needle = np.clip(
        np.round(
            np.exp(
                np.log(27.0) + effects["door_to_needle_log_ratio"][ui] + 0.6 * rng.normal(size=n)
            )
        ),
        5,
        240,
    )
    thrombectomy_probability = np.where(
        w["nihss"] >= 6, np.where(departments.university[ui], 0.22, 0.07), 0.005
    )
    u = rng.random(n)
    reason = np.where(
        ~window,
        1,
        np.where(
            (w["nihss"] <= 3) & (u < 0.8),
            2,
            np.where(w["anticoagulant_before"] & (u < 0.9), 3, 2 + np.floor(3 * rng.random(n))),
        ),
    )
    return {
        "thrombolysis": thrombolysis,
        "thrombolysis_time": w["arrival"] + door_to_needle.astype(np.int64),
        "thrombectomy": ischaemic & (rng.random(n) < thrombectomy_probability),
        "no_thrombolysis_reason": reason,
        "stroke_unit": _bernoulli(
            rng, 2.4 + effects["stroke_unit_log_odds"][ui] - 0.015 * (w["age"] - 75)
        ),
        "swallow_screening": _bernoulli(
            rng, 1.9 + effects["swallow_screening_log_odds"][ui] + 0.04 * (w["nihss"] - 5)
        ),
    }


def _outcomes(
    departments: _Departments, ui: np.ndarray, w: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Death, length of stay, function (mRS) and treatment at discharge."""
    n = len(ui)
    effects = departments.effects
    centred_age, centred_nihss = w["age"] - 75.0, w["nihss"] - 5.0
    haemorrhage = w["stroke_type"] == 2
    death_linear = (
        DEATH_30D["intercept"] + _case_mix_linear(DEATH_30D, w) + effects["death_30d_log_odds"][ui]
    )
    died_30d = rng.random(n) < _expit(death_linear)
    early_death = np.floor(31.0 * rng.random(n) ** 1.6)
    stay = np.clip(
        np.floor(
            np.exp(
                np.log(4.5)
                + 0.03 * centred_nihss
                + effects["length_of_stay_log_ratio"][ui]
                + 0.55 * rng.normal(size=n)
            )
        ),
        0,
        30,
    )
    in_hospital = rng.random(n) < np.where(early_death <= 14, 0.8, 0.35)
    died_in_hospital = died_30d & (in_hospital | (early_death == 0))
    stay = np.where(
        died_in_hospital, early_death, np.where(died_30d, np.minimum(stay, early_death - 1), stay)
    )
    yearly_hazard = 0.07 * np.exp(
        0.07 * centred_age + 0.15 * w["prestroke_mrs"] + 0.3 * w["atrial_fibrillation"]
    )
    late_death = 31.0 + np.floor(np.minimum(rng.exponential(365.0 / yearly_hazard), 1e6))
    death = w["admission"] + np.where(died_30d, early_death, late_death).astype(np.int64)

    # Proportional odds: the planted effect is exactly the log-odds of mRS 0-2 (and of 0-k).
    cut_points = MRS_3M["cut_points"]
    latent = (
        _case_mix_linear(MRS_3M, w) - effects["independent_3m_log_odds"][ui] + rng.logistic(size=n)
    )
    mrs_3m = _ordinal(latent, cut_points)
    mrs_discharge = np.where(
        died_in_hospital, 6, _ordinal(latent + 0.7 + 0.6 * rng.normal(size=n), cut_points)
    )
    group = np.where(mrs_discharge <= 2, 0, np.where(mrs_discharge == 3, 1, 2))
    destination_shares = np.cumsum(
        [[0.85, 0.10, 0.02, 0.03], [0.35, 0.40, 0.15, 0.10], [0.08, 0.37, 0.40, 0.15]], axis=1
    )
    u = rng.random(n)
    destination = 1 + (u[:, None] > destination_shares[group, :3]).sum(axis=1)
    prevention = effects["secondary_prevention_log_odds"][ui]
    very_dependent = mrs_discharge == 5
    anticoagulant_ischaemic = _bernoulli(
        rng, 1.6 + prevention - 0.08 * np.maximum(w["age"] - 85, 0) - 1.0 * very_dependent
    )
    u = rng.random(n)
    return {
        "died_30d": died_30d,
        "died_in_hospital": died_in_hospital,
        "discharge": w["admission"] + stay.astype(np.int64),
        "death": death,
        "mrs_3m": mrs_3m,
        "mrs_discharge": mrs_discharge,
        "discharge_destination": destination,
        "antithrombotic_discharge": _bernoulli(rng, 3.2 + prevention - 1.5 * very_dependent),
        "anticoagulant_discharge": np.where(
            w["stroke_type"] == 1, anticoagulant_ischaemic, u < np.where(haemorrhage, 0.1, 0.4)
        ),
        "statin_discharge": _bernoulli(rng, 1.6 + prevention - 0.06 * np.maximum(w["age"] - 80, 0)),
    }


def _case_mix_linear(model: dict[str, Any], w: dict[str, np.ndarray]) -> np.ndarray:
    """The case-mix part of a linear predictor: age and NIHSS centred at 75 and 5."""
    return np.asarray(
        model["age_per_year"] * (w["age"] - 75.0)
        + model["nihss_per_point"] * (w["nihss"] - 5.0)
        + model["atrial_fibrillation"] * w["atrial_fibrillation"]
        + model["prior_stroke"] * w["prior_stroke"]
        + model["female"] * w["female"]
        + model["intracerebral_haemorrhage"] * (w["stroke_type"] == 2)
        + model["unspecified_stroke"] * (w["stroke_type"] == 3)
        + np.asarray(model["prestroke_mrs"])[w["prestroke_mrs"]]
    )


def _second_episodes(
    ui: np.ndarray, w: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (first, second) of episodes that are the same patient's first and second stroke.

    A second episode (one with a previous stroke) is matched to the nearest first episode in
    birth date at the same department and of the same sex, if that patient was discharged,
    lived more than 30 days, and was still alive at the second admission.
    """
    n = len(ui)
    group = 2 * ui + w["female"]
    key = group * 1_000_000 + (w["birth"] + 100_000)
    firsts = np.flatnonzero(~w["prior_stroke"])
    seconds = np.flatnonzero(w["prior_stroke"])
    if firsts.size == 0 or seconds.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    firsts = firsts[np.lexsort((rng.random(firsts.size), key[firsts]))]
    sorted_keys = key[firsts]
    position = np.searchsorted(sorted_keys, key[seconds])
    admitted = w["admission"][seconds]
    partner = np.full(seconds.size, -1)
    for offset in (0, -1, 1, -2, 2, -3, 3):  # the nearest neighbours in birth date, in turn
        candidate = firsts[np.clip(position + offset, 0, firsts.size - 1)]
        fits = (
            (partner < 0)
            & (group[candidate] == group[seconds])
            & (np.abs(w["birth"][candidate] - w["birth"][seconds]) <= 730)
            & (admitted > np.maximum(w["discharge"][candidate], w["admission"][candidate] + 30))
            & (w["death"][candidate] > admitted)
        )
        partner = np.where(fits, candidate, partner)
    fits = partner >= 0
    first, second = partner[fits], seconds[fits]
    shuffled = rng.permutation(first.size)
    first, second = first[shuffled], second[shuffled]
    _, once = np.unique(first, return_index=True)
    once.sort()
    take = min(round(n * SECOND_EPISODE_SHARE), once.size)
    return first[once[:take]], second[once[:take]]


def _link_episodes(
    w: dict[str, np.ndarray], first: np.ndarray, second: np.ndarray
) -> dict[str, np.ndarray]:
    """Make the paired episodes one person: one birth date, one sex, one date of death."""
    w = dict(w)
    birth = w["birth"].copy()
    birth[second] = birth[first]
    death = w["death"].copy()
    death[first] = death[second]
    w["birth"], w["death"] = birth, death
    w["age"] = _age(birth, w["admission"])
    return w


def _follow_up(
    departments: _Departments,
    ui: np.ndarray,
    w: dict[str, np.ndarray],
    first: np.ndarray,
    second: np.ndarray,
    last_day: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The 3-month follow-up: done, lost (recorded as not done, or never opened) or not due."""
    n = len(ui)
    day = w["admission"] + 90 + np.floor(rng.gamma(2.0, 10.0, n)).astype(np.int64)
    reachable = (day <= last_day) & (w["death"] > day)
    followed = reachable & _bernoulli(
        rng, 1.6 + departments.effects["followup_log_odds"][ui] - 0.4 * (w["mrs_3m"] >= 4)
    )
    recorded_lost = reachable & ~followed & (rng.random(n) < 0.4)
    year = _calendar(w["admission"])[0]
    digital = np.clip(0.05 + 0.04 * (year - 2021), 0.0, 0.5)
    u = rng.random(n)
    method = np.where(u < digital, 3, np.where(u < digital + (1 - digital) / 2, 1, 2))
    u = rng.random(n)
    mrs = w["mrs_3m"]
    nursing = ((mrs >= 4) & (u < 0.6)) | ((mrs == 3) & (u < 0.15)) | (u < 0.02)
    other = ~nursing & (rng.random(n) < 0.03)
    living = np.where(nursing, 3, np.where(other, 4, np.where(w["living_alone"], 1, 2)))
    new_stroke = rng.random(n) < 0.012
    new_stroke[first] |= w["admission"][second] <= day[first]
    satisfied = 1 + np.searchsorted(np.cumsum([0.02, 0.04, 0.12, 0.42]), rng.random(n))
    return {
        "followup_done": np.where(followed, 1.0, np.where(recorded_lost, 0.0, np.nan)),
        "followup_day": day,
        "followup_method": method,
        "living_situation_3m": living,
        "new_stroke_3m": new_stroke,
        "smoking_3m": np.where(w["smoker"], rng.random(n) < 0.6, rng.random(n) < 0.01),
        "satisfied_care": satisfied,
    }


def _questionnaire(
    departments: _Departments,
    ui: np.ndarray,
    w: dict[str, np.ndarray],
    last_day: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The 3-month questionnaire: who is invited, who answers what, and the follow-up it makes.

    Invitations follow questionnaires.yaml: 90 days after admission, to patients discharged
    alive and still alive. The link is open 30 days; most answer within days, some after the
    reminder on day 14. An answer is the follow-up (method 3, digital form) and its date;
    of those who do not answer, the hospital still reaches some of the patients it would have
    followed up by telephone or letter, and records or forgets the rest as before.
    """
    n = len(ui)
    mrs, p = w["mrs_3m"], PROM_RESPONSE
    invitation = w["admission"] + 90
    invited = ~w["died_in_hospital"] & (invitation <= last_day) & (w["death"] > invitation)
    willing = _bernoulli(
        rng,
        p["intercept"]
        + departments.effects["prom_response_log_odds"][ui]
        + p["mrs_4_or_more"] * (mrs >= 4)
        + p["age_per_year_over_75"] * (w["age"] - 75),
    )
    delay = np.where(rng.random(n) < 0.3, 14 + rng.exponential(4.0, n), rng.exponential(3.0, n))
    answer_day = invitation + np.minimum(np.floor(delay), 29).astype(np.int64)
    answered = invited & willing & (answer_day <= last_day) & (w["death"] > answer_day)

    followed = (w["followup_done"] == 1) & ~answered
    by_hospital = followed & (rng.random(n) < p["phone_follow_up_of_non_responders"])
    recorded_lost = followed & ~by_hospital & (rng.random(n) < 0.4)
    done = np.where(
        answered | by_hospital,
        1.0,
        np.where(recorded_lost, 0.0, np.where(followed, np.nan, w["followup_done"])),
    )
    answers: dict[str, np.ndarray] = {}
    shown = answered.copy()
    for item, settling, grade in mrs_simplified.STEPS:  # the patient's own mRS, step by step
        settles = mrs == grade
        answers[f"mrs_{item}_3m"] = np.where(
            shown, np.where(settles, settling, 1 - settling), np.nan
        )
        shown &= ~settles
    shared = rng.normal(0.0, 0.35, n)
    for dimension in eq5d5l.DIMENSIONS:
        mean = np.asarray(EQ5D_MEAN_LEVELS[dimension])[mrs]
        level = np.clip(np.round(mean + shared + rng.normal(0.0, 0.55, n)), 1, 5)
        answers[f"eq5d_{dimension}_3m"] = np.where(answered, level, np.nan)
    vas = np.clip(np.round(88.0 - 9.0 * mrs - 15.0 * shared + rng.normal(0.0, 10.0, n)), 0, 100)
    return {
        **answers,
        "followup_done": done,
        "followup_day": np.where(answered, answer_day, w["followup_day"]),
        "followup_method": np.where(
            answered, 3, np.where(w["followup_method"] == 3, 1, w["followup_method"])
        ),
        "prom_invited": invited,
        "prom_answered": answered,
        "eq_vas_3m": np.where(answered, vas, np.nan),
        "bp_medication_3m": rng.random(n) < np.where(w["hypertension"], 0.88, 0.35),
        "antithrombotic_3m": rng.random(n) < np.where(w["stroke_type"] == 1, 0.92, 0.3),
    }


# --- what the registry sees --------------------------------------------------------------


def _observe(
    departments: _Departments,
    ui: np.ndarray,
    w: dict[str, np.ndarray],
    last_day: int,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The registry's values (NaN for blank) and which registrations are still drafts."""
    n = len(ui)
    discharged = w["discharge"] <= last_day
    draft = ~discharged | (rng.random(n) < 0.012 + 0.25 * (w["admission"] > last_day - 60))
    v: dict[str, np.ndarray] = {
        "admission_date": w["admission"],
        "arrival_datetime": w["arrival"],
        "onset_known": w["onset_known"],
        "onset_datetime": w["arrival"] - w["onset_to_arrival"],
        "age": w["age"],
        "sex": np.where(w["female"], 2, 1),
        "living_alone": w["living_alone"],
        "prestroke_mrs": w["prestroke_mrs"],
        "prior_stroke": w["prior_stroke"],
        "atrial_fibrillation": w["atrial_fibrillation"],
        "hypertension": w["hypertension"],
        "diabetes": w["diabetes"],
        "smoker": w["smoker"],
        "anticoagulant_before": w["anticoagulant_before"],
        "nihss_admission": w["nihss"],
        "glucose_admission": w["glucose"],
        "stroke_type": w["stroke_type"],
        "thrombolysis": w["thrombolysis"],
        "thrombolysis_datetime": w["thrombolysis_time"],
        "thrombectomy": w["thrombectomy"],
        "no_thrombolysis_reason": w["no_thrombolysis_reason"],
        "stroke_unit": w["stroke_unit"],
        "swallow_screening": w["swallow_screening"],
        "discharge_date": w["discharge"],
        "died_in_hospital": w["died_in_hospital"],
        "discharge_destination": w["discharge_destination"],
        "mrs_discharge": w["mrs_discharge"],
        "antithrombotic_discharge": w["antithrombotic_discharge"],
        "anticoagulant_discharge": w["anticoagulant_discharge"],
        "statin_discharge": w["statin_discharge"],
        "death_date": w["death"],
        "followup_done": w["followup_done"],
        "followup_date": w["followup_day"],
        "followup_method": w["followup_method"],
        "mrs_3m": w["mrs_3m"],
        "living_situation_3m": w["living_situation_3m"],
        "new_stroke_3m": w["new_stroke_3m"],
        "smoking_3m": w["smoking_3m"],
        "satisfied_care": w["satisfied_care"],
        "prom_3m_invited": np.where(w["prom_invited"], 1.0, np.nan),
        "prom_3m_answered": np.where(w["prom_answered"], 1.0, np.nan),
        "prom_3m_version": np.where(w["prom_answered"], 1.0, np.nan),
        **{name: w[name] for name in PROM_ANSWERS},
        "bp_medication_3m": w["bp_medication_3m"],
        "antithrombotic_3m": w["antithrombotic_3m"],
    }
    v = {name: values.astype(np.float64) for name, values in v.items()}
    for name in (
        "discharge_date",
        "died_in_hospital",
        "discharge_destination",
        "mrs_discharge",
        "antithrombotic_discharge",
        "anticoagulant_discharge",
        "statin_discharge",
    ):
        v[name][~discharged] = np.nan
    v["death_date"][w["death"] > last_day] = np.nan
    for name, rate in MISSING_RATES.items():
        v[name][rng.random(n) < rate] = np.nan
    # A questionnaire's mRS comes from required questions, so it is never missing; its EQ-5D
    # index is scored from the dimensions answered, as at submission: none if one is missing.
    v["mrs_3m"] = np.where(w["prom_answered"], w["mrs_3m"], v["mrs_3m"])
    dimensions = [v[f"eq5d_{d}_3m"] for d in eq5d5l.DIMENSIONS]
    v["eq5d_index_3m"] = _eq5d_index(dimensions)
    v["nihss_admission"][rng.random(n) < departments.nihss_missing[ui]] = np.nan

    # Fields hidden by show_if are blank; a blank condition hides, as in the expression language.
    followed = v["followup_done"] == 1
    shown = {
        "onset_datetime": v["onset_known"] == 1,
        "thrombolysis": v["stroke_type"] == 1,
        "thrombectomy": v["stroke_type"] == 1,
        "discharge_destination": v["died_in_hospital"] == 0,
        "antithrombotic_discharge": (v["stroke_type"] == 1) & (v["died_in_hospital"] == 0),
        "anticoagulant_discharge": (v["atrial_fibrillation"] == 1) & (v["died_in_hospital"] == 0),
        "statin_discharge": (v["stroke_type"] == 1) & (v["died_in_hospital"] == 0),
    }
    for name in (
        "followup_date",
        "followup_method",
        "mrs_3m",
        "living_situation_3m",
        "new_stroke_3m",
        "smoking_3m",
        "satisfied_care",
        "bp_medication_3m",
        "antithrombotic_3m",
    ):
        shown[name] = followed
    for name, visible in shown.items():
        v[name][~visible] = np.nan
    # Conditions that depend on fields hidden just above.
    v["thrombolysis_datetime"][~(v["thrombolysis"] == 1)] = np.nan
    v["no_thrombolysis_reason"][~((v["stroke_type"] == 1) & (v["thrombolysis"] == 0))] = np.nan

    v["onset_to_arrival_minutes"] = v["arrival_datetime"] - v["onset_datetime"]
    v["door_to_needle_minutes"] = v["thrombolysis_datetime"] - v["arrival_datetime"]
    v["length_of_stay"] = v["discharge_date"] - v["admission_date"]
    v["alive_30_days"] = np.where(
        np.isnan(v["death_date"]), 1.0, (v["death_date"] - v["admission_date"] > 30).astype(float)
    )
    return v, draft


def _truth(
    departments: _Departments,
    ui: np.ndarray,
    w: dict[str, np.ndarray],
    coverage: dict[str, dict[str, float]],
    seed: int,
    first_year: int,
    last_date: date,
) -> dict[str, Any]:
    d = len(departments.unit_id)
    count = np.bincount(ui, minlength=d)

    def mean(values: np.ndarray) -> list[float | None]:
        sums = np.bincount(ui, weights=values.astype(float), minlength=d)
        return [round(float(s / c), 4) if c else None for s, c in zip(sums, count, strict=True)]

    observed = {
        "mean_age": mean(w["age"]),
        "mean_nihss": mean(w["nihss"]),
        "atrial_fibrillation": mean(w["atrial_fibrillation"]),
        "mean_prestroke_mrs": mean(w["prestroke_mrs"]),
    }
    units: dict[str, Any] = {}
    for i, unit in enumerate(departments.unit_id):
        units[str(unit)] = {
            "university": bool(departments.university[i]),
            "volume_weight": round(float(departments.weight[i]), 4),
            "registrations": int(count[i]),
            "effects": {k: round(float(a[i]), 4) for k, a in departments.effects.items()},
            "case_mix": {
                **{k: values[i] for k, values in observed.items()},
                "planted": {k: round(float(a[i]), 4) for k, a in departments.case_mix.items()},
            },
            "nihss_missing_rate": round(float(departments.nihss_missing[i]), 4),
        }
    return {
        "generator": "registries.stroke.synthetic",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "first_year": first_year,
        "last_date": last_date.isoformat(),
        "effects_scale": {
            "log_odds": "added to the linear predictor of a logistic model",
            "log_ratio": "added to the log of a time (door-to-needle) or length of stay",
            "independent_3m_log_odds": "log-odds of mRS 0-2 at 3 months (proportional odds)",
            "prom_response_log_odds": "log-odds of answering the 3-month questionnaire",
        },
        "models": copy.deepcopy(
            {
                "thrombolysis": THROMBOLYSIS,
                "death_30d": DEATH_30D,
                "mrs_3m": MRS_3M,
                "missing_rates": MISSING_RATES,
                "prom_response": PROM_RESPONSE,
                "eq5d_mean_levels": EQ5D_MEAN_LEVELS,
            }
        ),
        "departments": units,
        "coverage": coverage,
    }


# --- small pieces ------------------------------------------------------------------------


def _eq5d_index(dimensions: list[np.ndarray]) -> np.ndarray:
    """The Norwegian EQ-5D-5L index of each row's levels (NaN where one is missing), scored by
    `entry.instruments.eq5d5l` itself once per distinct health state, of which there are at
    most 3 125."""
    levels = np.stack(dimensions, axis=1)
    complete = ~np.isnan(levels).any(axis=1)
    index = np.full(len(levels), np.nan)
    # A state's five levels read as one number in the instrument's order, as in "21345".
    profile = levels[complete].astype(np.int64) @ (10 ** np.arange(4, -1, -1))
    states, inverse = np.unique(profile, return_inverse=True)
    scored = [
        eq5d5l.additive_index(
            dict(zip(eq5d5l.DIMENSIONS, map(int, str(state)), strict=True)), eq5d5l.NORWAY_2024
        )
        for state in states
    ]
    index[complete] = np.asarray(scored, dtype=np.float64)[inverse]
    return index


def _column(name: str, values: np.ndarray, kind: str) -> pl.Series:
    """A typed column from float values with NaN for blank (days or minutes for dates)."""
    series = pl.Series(name, values, dtype=pl.Float64, nan_to_null=True)
    if kind == "date":
        return series.cast(pl.Int32).cast(pl.Date)
    if kind == "datetime":
        return (series.cast(pl.Int64) * 60_000_000).cast(pl.Datetime("us"))
    return series.cast(COLUMN_DTYPES[kind])


def _number_patients(patient_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Patient numbers in order of first appearance, and the row of each patient's first episode."""
    _, first_rows, inverse = np.unique(patient_of, return_index=True, return_inverse=True)
    by_appearance = np.argsort(first_rows, kind="stable")
    number = np.empty(first_rows.size, dtype=np.int64)
    number[by_appearance] = np.arange(first_rows.size)
    return number[inverse], first_rows[by_appearance]


def _day(value: date) -> int:
    return (value - _EPOCH).days


def _calendar(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    as_date = days.astype("datetime64[D]")
    months = as_date.astype("datetime64[M]")
    year = as_date.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (as_date - months).astype(np.int64) + 1
    return year, month, day


def _age(birth: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Whole years from birth to the day `on`, as on a calendar."""
    by, bm, bd = _calendar(birth)
    oy, om, od = _calendar(on)
    before_birthday = (om < bm) | ((om == bm) & (od < bd))
    return np.asarray(oy - by - before_birthday.astype(np.int64))


def _ordinal(latent: np.ndarray, cut_points: list[float]) -> np.ndarray:
    return np.searchsorted(np.asarray(cut_points), latent).astype(np.int64)


def _expit(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _bernoulli(rng: np.random.Generator, log_odds: np.ndarray) -> np.ndarray:
    return rng.random(np.shape(log_odds)) < _expit(log_odds)


def _centred(weight: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.asarray(values - np.average(values, weights=weight))
