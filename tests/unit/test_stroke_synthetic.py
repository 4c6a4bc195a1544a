"""The demo stroke registry: its dictionary, indicators and synthetic data generator."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from polars.testing import assert_frame_equal

from data_access.org_tree import read_unit_tree
from entry.prom_answers import answers_to_values
from entry.registry_folder import read_registry_folder
from registries.stroke.synthetic import (
    COLUMN_DTYPES,
    UNIVERSITY_HOSPITALS,
    VARIABLE_TYPES,
    StrokeDemo,
    generate,
)

FOLDER = Path(__file__).resolve().parents[2] / "registries" / "stroke"
REGISTRATIONS = 20_000
SEED = 20_240_611
LAST_DATE = date(2026, 10, 31)
ALL = pl.col("admission_date").is_not_null()
CORE_COLUMNS = ["patient_index", "unit_id", "event_date", "status"]
TYPES = {
    "text",
    "integer",
    "decimal",
    "date",
    "datetime",
    "time",
    "yesno",
    "single",
    "multiple",
    "calculated",
    "notes",
    "descriptive",
}
DICTIONARY_COLUMNS = [
    "variable",
    "form",
    "section_nb",
    "section_en",
    "type",
    "label_nb",
    "label_en",
    "help_nb",
    "help_en",
    "unit",
    "choices_nb",
    "choices_en",
    "min",
    "max",
    "pattern",
    "required",
    "show_if",
    "calculation",
    "validation",
    "severity",
    "message_nb",
    "message_en",
    "identifier",
    "annotation",
]


def small_tree() -> pl.DataFrame:
    """Nation, two regions, four trusts, 24 hospitals with one stroke department each."""
    local = [
        "Hammerfest", "Kirkenes", "Harstad", "Narvik", "Bodø", "Lofoten", "Levanger", "Namsos",
        "Molde", "Volda", "Førde", "Voss", "Odda", "Stord", "Elverum", "Gjøvik", "Tynset",
        "Notodden", "Arendal", "Kongsberg", "Drammen",
    ]  # fmt: skip
    hospitals = ["Ullevål", "Haukeland", "St. Olavs", *local]
    rows = [(1, None, "nation", "Nasjonalt"), (2, 1, "region", "Nord"), (3, 1, "region", "Sør")]
    rows += [(10 + t, 2 + t // 2, "trust", f"Trust {t}") for t in range(4)]
    for i, name in enumerate(hospitals):
        rows.append((1000 + i, 10 + i % 4, "hospital", name))
        rows.append((100_001 + i, 1000 + i, "department", f"{name} med."))
    return pl.DataFrame(
        rows,
        schema={
            "unit_id": pl.Int64,
            "parent_id": pl.Int64,
            "level": pl.String,
            "short_name": pl.String,
        },
        orient="row",
    ).with_columns(pl.col("short_name").alias("name"))


@pytest.fixture(scope="module")
def units() -> pl.DataFrame:
    return small_tree()


@pytest.fixture(scope="module")
def demo(units: pl.DataFrame) -> StrokeDemo:
    return generate(units, REGISTRATIONS, seed=SEED)


@pytest.fixture(scope="module")
def registrations(demo: StrokeDemo) -> pl.DataFrame:
    return demo.registrations


@pytest.fixture(scope="module")
def dictionary() -> pl.DataFrame:
    return pl.read_csv(FOLDER / "dictionary.csv", infer_schema=False)


def names_in(expression: str) -> set[str]:
    """Variable names in an expression: identifiers less keywords, functions and 'strings'."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"'[^']*'", "", expression)))
    return words - {"and", "or", "not", "isblank", "datediff", "today"}


def show_if(expression: str) -> pl.Expr:
    """The few show_if forms the dictionary uses (`a = 1 and b <> 0`), true only when known."""
    parts = []
    for part in expression.split(" and "):
        match = re.fullmatch(r"(\w+) (=|<>) (\d+)", part.strip())
        assert match, f"show_if outside the subset this test reads: {expression}"
        name, operator, number = match.groups()
        parts.append(
            pl.col(name) == int(number) if operator == "=" else pl.col(name) != int(number)
        )
    return pl.all_horizontal(parts).fill_null(False)


def thrombolysis_eligible() -> pl.Expr:
    return (
        (pl.col("stroke_type") == 1)
        & pl.col("age").is_between(18, 80)
        & (pl.col("onset_known") == 1)
        & pl.col("onset_to_arrival_minutes").is_between(0, 240)
    ).fill_null(False)


# --- configuration ---------------------------------------------------------------------


def test_dictionary_columns_and_size(dictionary: pl.DataFrame) -> None:
    assert dictionary.columns == DICTIONARY_COLUMNS
    assert 55 <= dictionary.height <= 65
    assert dictionary["variable"].is_unique().all()
    assert set(dictionary["form"]) == {"admission", "discharge", "followup_3m"}
    assert set(dictionary["type"]) <= TYPES
    for column in ("label_nb", "label_en"):
        assert dictionary[column].null_count() == 0, column
    for a, b in [
        ("help_nb", "help_en"),
        ("section_nb", "section_en"),
        ("message_nb", "message_en"),
    ]:
        assert (dictionary[a].is_null() == dictionary[b].is_null()).all(), (a, b)
    assert set(dictionary["required"].drop_nulls()) == {"yes"}


def test_dictionary_matches_the_generator(dictionary: pl.DataFrame) -> None:
    assert dict(zip(dictionary["variable"], dictionary["type"], strict=True)) == VARIABLE_TYPES


def test_choices_have_the_same_codes_in_both_languages(dictionary: pl.DataFrame) -> None:
    def codes(text: str) -> list[str]:
        return [item.split(",", 1)[0].strip() for item in text.split("|")]

    with_choices = dictionary.filter(pl.col("type").is_in(["single", "multiple"]))
    for row in with_choices.iter_rows(named=True):
        assert row["choices_nb"] and row["choices_en"], row["variable"]
        assert codes(row["choices_nb"]) == codes(row["choices_en"]), row["variable"]
        assert all(code.isdigit() for code in codes(row["choices_nb"])), row["variable"]
    no_choices = dictionary.filter(~pl.col("type").is_in(["single", "multiple"]))
    assert no_choices["choices_nb"].null_count() == no_choices.height


def test_dictionary_expressions_name_only_its_variables(dictionary: pl.DataFrame) -> None:
    known = set(dictionary["variable"])
    for column in ("show_if", "calculation", "validation"):
        for variable, expression in dictionary.select("variable", column).drop_nulls().iter_rows():
            assert names_in(expression) <= known, (variable, column, expression)
    calculated = dictionary.filter(pl.col("type") == "calculated")
    assert calculated["calculation"].null_count() == 0
    with_rule = dictionary.filter(pl.col("validation").is_not_null())
    assert set(with_rule["severity"]) <= {"error", "warning"}
    assert with_rule.select("message_nb", "message_en").null_count().sum_horizontal().item() == 0
    assert dictionary.filter(pl.col("validation").is_null())["severity"].null_count() == (
        dictionary.height - with_rule.height
    )


def test_registry_folder_reads() -> None:
    registry = read_registry_folder(FOLDER)
    assert registry.key == "stroke"
    assert [form.key for form in registry.forms] == ["admission", "discharge", "followup_3m"]
    assert registry.event_date_variable == "admission_date"
    assert "syntetiske" in registry.description.nb and "synthetic" in registry.description.en
    assert 9 <= len(registry.indicators) <= 14


def test_indicator_expressions_name_only_dictionary_variables(dictionary: pl.DataFrame) -> None:
    known = set(dictionary["variable"])
    for indicator in read_registry_folder(FOLDER).indicators:
        expressions = [indicator.denominator, indicator.numerator, indicator.value]
        for expression in filter(None, expressions):
            assert names_in(expression) <= known, (indicator.key, expression)
        if indicator.risk_model is not None:
            assert set(indicator.risk_model.covariates) <= known, indicator.key
        assert indicator.min_denominator in (5, 10, 20)


# --- the generator's frames ------------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data(units: pl.DataFrame, demo: StrokeDemo) -> None:
    again = generate(units, REGISTRATIONS, seed=SEED)
    assert_frame_equal(again.registrations, demo.registrations)
    assert_frame_equal(again.patients, demo.patients)
    assert_frame_equal(again.coverage, demo.coverage)
    assert json.dumps(again.truth, sort_keys=True) == json.dumps(demo.truth, sort_keys=True)
    other = generate(units, REGISTRATIONS, seed=SEED + 1)
    assert not other.registrations.equals(demo.registrations)
    assert other.truth["departments"] != demo.truth["departments"]


@pytest.mark.parametrize("size", [1, 7, 250, 3_001])
def test_exact_number_of_registrations(units: pl.DataFrame, size: int) -> None:
    demo = generate(units, size, seed=size)
    assert demo.registrations.height == size
    assert demo.patients.height <= size
    assert demo.coverage["eligible"].sum() >= size


def test_columns_and_dtypes_follow_the_dictionary(
    registrations: pl.DataFrame, dictionary: pl.DataFrame
) -> None:
    assert registrations.columns == CORE_COLUMNS + dictionary["variable"].to_list()
    expected = {
        "patient_index": pl.Int64(),
        "unit_id": pl.Int64(),
        "event_date": pl.Date(),
        "status": pl.String(),
    }
    expected |= {
        variable: COLUMN_DTYPES[kind]
        for variable, kind in dictionary.select("variable", "type").iter_rows()
    }
    assert dict(registrations.schema) == expected
    assert set(registrations["status"]) == {"complete", "draft"}
    assert registrations.filter(pl.col("event_date") != pl.col("admission_date")).is_empty()


def test_values_lie_within_choices_and_limits(
    registrations: pl.DataFrame, dictionary: pl.DataFrame
) -> None:
    for row in dictionary.iter_rows(named=True):
        values = registrations[row["variable"]].drop_nulls()
        if row["type"] == "yesno":
            assert set(values) <= {0, 1}, row["variable"]
        if row["type"] == "single":
            codes = {int(item.split(",")[0]) for item in row["choices_nb"].split("|")}
            assert set(values) <= codes, row["variable"]
        if row["min"] is not None:
            assert values.min() >= float(row["min"]), row["variable"]
        if row["max"] is not None:
            assert values.max() <= float(row["max"]), row["variable"]


def test_fields_hidden_by_logic_are_blank(
    registrations: pl.DataFrame, dictionary: pl.DataFrame
) -> None:
    for variable, expression in dictionary.select("variable", "show_if").drop_nulls().iter_rows():
        shown = show_if(expression)
        assert registrations.filter(~shown, pl.col(variable).is_not_null()).is_empty(), variable
        assert registrations.filter(shown, pl.col(variable).is_not_null()).height > 0, variable


def test_calculated_fields_follow_their_formulas(registrations: pl.DataFrame) -> None:
    minutes = pl.duration(minutes=1)
    check = registrations.select(
        (pl.col("arrival_datetime") - pl.col("onset_datetime")) / minutes
        - pl.col("onset_to_arrival_minutes"),
        (pl.col("thrombolysis_datetime") - pl.col("arrival_datetime")) / minutes
        - pl.col("door_to_needle_minutes"),
        (pl.col("discharge_date") - pl.col("admission_date")).dt.total_days()
        - pl.col("length_of_stay"),
        (
            pl.col("death_date").is_null()
            | ((pl.col("death_date") - pl.col("admission_date")).dt.total_days() > 30)
        ).cast(pl.Float64)
        - pl.col("alive_30_days"),
    )
    for column in check.columns:
        assert set(check[column].drop_nulls()) <= {0.0}, column
    assert registrations["alive_30_days"].null_count() == 0


def test_dates_are_consistent(registrations: pl.DataFrame) -> None:
    broken = {
        "discharge before admission": pl.col("discharge_date") < pl.col("admission_date"),
        "death before admission": pl.col("death_date") < pl.col("admission_date"),
        "onset after arrival": pl.col("onset_datetime") > pl.col("arrival_datetime"),
        "thrombolysis before arrival": pl.col("thrombolysis_datetime") < pl.col("arrival_datetime"),
        "arrival on another day": pl.col("arrival_datetime").dt.date() != pl.col("admission_date"),
        "follow-up before discharge": pl.col("followup_date") < pl.col("discharge_date"),
        "follow-up after death": pl.col("followup_date") >= pl.col("death_date"),
        "in-hospital death not at discharge": (pl.col("died_in_hospital") == 1)
        & (pl.col("death_date") != pl.col("discharge_date")),
        "alive at discharge but dead before": (pl.col("died_in_hospital") == 0)
        & (pl.col("death_date") < pl.col("discharge_date")),
        "mRS 6 does not match death in hospital": (pl.col("mrs_discharge") == 6)
        != (pl.col("died_in_hospital") == 1),
        "before the first year": pl.col("admission_date") < date(2021, 1, 1),
    }
    for name, condition in broken.items():
        assert registrations.filter(condition).is_empty(), name
    for column in ("admission_date", "discharge_date", "death_date", "followup_date"):
        assert registrations[column].max() <= LAST_DATE, column
    undischarged = registrations.filter(pl.col("discharge_date").is_null())
    assert set(undischarged["status"]) == {"draft"}


def test_age_is_whole_years_from_birth_date(demo: StrokeDemo) -> None:
    joined = demo.registrations.join(demo.patients, on="patient_index")
    age = (
        pl.col("admission_date").dt.year()
        - pl.col("birth_date").dt.year()
        - (
            pl.col("admission_date").dt.month().cast(pl.Int32) * 100
            + pl.col("admission_date").dt.day()
            < pl.col("birth_date").dt.month().cast(pl.Int32) * 100 + pl.col("birth_date").dt.day()
        ).cast(pl.Int32)
    )
    assert joined.filter(age != pl.col("age")).is_empty()
    sex = pl.when(pl.col("sex") == 2).then(pl.lit("female")).otherwise(pl.lit("male"))
    assert joined.filter(sex != pl.col("sex_right")).is_empty()
    assert joined["age"].min() >= 18 and joined["age"].max() <= 110


def test_some_patients_have_a_second_stroke(demo: StrokeDemo) -> None:
    patients, registrations = demo.patients, demo.registrations
    assert patients["patient_index"].to_list() == list(range(patients.height))
    episodes = registrations.group_by("patient_index").len()
    assert set(episodes["len"]) == {1, 2}
    share = (episodes["len"] == 2).mean()
    assert 0.05 <= share <= 0.08
    second = (
        registrations.sort("patient_index", "event_date")
        .filter(pl.col("patient_index").is_duplicated())
        .group_by("patient_index", maintain_order=True)
        .last()
    )
    assert set(second["prior_stroke"].drop_nulls()) == {1}


def test_volumes_are_uneven(registrations: pl.DataFrame) -> None:
    per_unit = registrations.group_by("unit_id").len()["len"]
    assert per_unit.max() >= 10 * per_unit.median()
    eligible = (
        registrations.filter(thrombolysis_eligible())
        .group_by("unit_id", pl.col("event_date").dt.year().alias("year"))
        .len()
    )
    assert (eligible["len"] < 10).sum() >= 5


def test_case_mix_differs_between_departments(registrations: pl.DataFrame) -> None:
    mix = (
        registrations.group_by("unit_id")
        .agg(pl.len(), pl.col("age").mean(), pl.col("nihss_admission").mean())
        .filter(pl.col("len") >= 200)
    )
    assert mix["age"].max() - mix["age"].min() >= 4
    assert mix["nihss_admission"].max() / mix["nihss_admission"].min() >= 1.3


def test_planted_thrombolysis_effects_show_in_the_rates(demo: StrokeDemo) -> None:
    rates = (
        demo.registrations.filter(thrombolysis_eligible())
        .group_by("unit_id")
        .agg(pl.len(), (pl.col("thrombolysis") == 1).mean().alias("rate"))
        .filter(pl.col("len") >= 40)
    )
    planted = [
        demo.truth["departments"][str(unit)]["effects"]["thrombolysis_log_odds"]
        for unit in rates["unit_id"]
    ]
    assert rates.height >= 10
    assert np.corrcoef(rates["rate"].to_numpy(), planted)[0, 1] > 0.5


def test_risk_adjustment_recovers_planted_death_effects(demo: StrokeDemo) -> None:
    """A logistic model with case mix and department dummies finds the planted effects;
    the crude rates rank the departments differently."""
    data = demo.registrations.drop_nulls(
        ["nihss_admission", "prestroke_mrs", "prior_stroke", "atrial_fibrillation"]
    )
    volumes = data.group_by("unit_id").len().sort("len", "unit_id", descending=True)
    units = volumes["unit_id"].to_list()  # the largest department is the reference
    columns = [
        data["age"],
        data["nihss_admission"],
        data["atrial_fibrillation"],
        data["prior_stroke"],
        data["sex"] == 2,
        data["stroke_type"] == 2,
        data["stroke_type"] == 3,
        *(data["prestroke_mrs"] == level for level in range(1, 6)),
        *(data["unit_id"] == unit for unit in units[1:]),
    ]
    design = sm.add_constant(np.column_stack([c.to_numpy() for c in columns]).astype(float))
    died = (data["alive_30_days"] == 0).to_numpy().astype(float)
    fit = sm.GLM(died, design, family=sm.families.Binomial()).fit()
    assert fit.params[2] == pytest.approx(truth_coefficient(demo, "nihss_per_point"), abs=0.03)

    large = (volumes["len"] >= 200).to_numpy()
    truth = demo.truth["departments"]
    planted = np.array([truth[str(u)]["effects"]["death_30d_log_odds"] for u in units])[large]
    estimated = np.r_[0.0, fit.params[-(len(units) - 1) :]][large]
    crude = (
        data.group_by("unit_id")
        .agg((pl.col("alive_30_days") == 0).mean().alias("rate"))
        .join(volumes, on="unit_id")
        .sort("len", "unit_id", descending=True)["rate"]
        .to_numpy()[large]
    )
    assert large.sum() >= 10
    assert np.corrcoef(estimated, planted)[0, 1] > 0.5
    assert rank_correlation(crude, estimated) < 0.95


def truth_coefficient(demo: StrokeDemo, name: str) -> float:
    return float(demo.truth["models"]["death_30d"][name])


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


@pytest.mark.parametrize(
    ("name", "denominator", "numerator", "low", "high"),
    [
        ("30-day mortality", ALL, pl.col("alive_30_days") == 0, 0.08, 0.14),
        ("ischaemic", ALL, pl.col("stroke_type") == 1, 0.82, 0.88),
        (
            "thrombolysis among eligible",
            thrombolysis_eligible(),
            pl.col("thrombolysis") == 1,
            0.30,
            0.45,
        ),
        (
            "within 40 minutes",
            pl.col("thrombolysis") == 1,
            pl.col("door_to_needle_minutes") <= 40,
            0.6,
            0.8,
        ),
        ("stroke unit", ALL, pl.col("stroke_unit") == 1, 0.86, 0.94),
        ("swallow screening", ALL, pl.col("swallow_screening") == 1, 0.80, 0.90),
        (
            "independent at 3 months",
            (pl.col("followup_done") == 1) & (pl.col("prestroke_mrs") <= 2),
            pl.col("mrs_3m") <= 2,
            0.50,
            0.65,
        ),
        ("female", ALL, pl.col("sex") == 2, 0.42, 0.50),
        ("atrial fibrillation", ALL, pl.col("atrial_fibrillation") == 1, 0.22, 0.32),
        ("draft", ALL, pl.col("status") == "draft", 0.01, 0.04),
    ],
)
def test_national_rates_are_plausible(
    registrations: pl.DataFrame,
    name: str,
    denominator: pl.Expr,
    numerator: pl.Expr,
    low: float,
    high: float,
) -> None:
    rate = (
        registrations.filter(denominator.fill_null(False))
        .select(numerator.fill_null(False).mean())
        .item()
    )
    assert low <= rate <= high, name


def test_door_to_needle_and_age(registrations: pl.DataFrame) -> None:
    assert 25 <= registrations["door_to_needle_minutes"].median() <= 30
    assert 72 <= registrations["age"].mean() <= 77
    recent = registrations.filter(pl.col("event_date") > date(2026, 9, 1))
    assert (recent["status"] == "draft").mean() > 5 * (registrations["status"] == "draft").mean()


@pytest.mark.parametrize(
    ("variable", "low", "high"),
    [
        ("nihss_admission", 0.03, 0.08),
        ("living_alone", 0.005, 0.05),
        ("prestroke_mrs", 0.005, 0.05),
        ("smoker", 0.02, 0.07),
        ("glucose_admission", 0.04, 0.10),
        ("swallow_screening", 0.005, 0.05),
        ("arrival_datetime", 0.002, 0.03),
    ],
)
def test_missing_values(
    registrations: pl.DataFrame, variable: str, low: float, high: float
) -> None:
    assert low <= registrations[variable].is_null().mean() <= high


def test_onset_unknown_and_lost_to_follow_up(registrations: pl.DataFrame) -> None:
    assert 0.20 <= (registrations["onset_known"] == 0).mean() <= 0.30
    due = registrations.filter(
        pl.col("admission_date") < date(2026, 6, 1),
        pl.col("death_date").is_null()
        | ((pl.col("death_date") - pl.col("admission_date")).dt.total_days() > 150),
    )
    lost = (due["followup_done"] != 1).fill_null(True).mean()
    assert 0.15 <= lost <= 0.25
    not_due = registrations.filter(pl.col("admission_date") > LAST_DATE - timedelta(days=90))
    assert not_due["followup_done"].null_count() == not_due.height


def test_questionnaire_invitations_follow_the_rule(registrations: pl.DataFrame) -> None:
    """Invited: discharged alive and not dead 90 days after admission (questionnaires.yaml);
    about two in three answer; no one answers uninvited."""
    invited = registrations.filter(pl.col("prom_3m_invited") == 1)
    assert (invited["died_in_hospital"] == 0).all()
    invitation = pl.col("admission_date") + timedelta(days=90)
    assert invited.filter(pl.col("death_date") <= invitation).is_empty()
    assert invited.filter(invitation > LAST_DATE).is_empty()
    alive = registrations.filter(
        pl.col("died_in_hospital") == 0,
        pl.col("admission_date") < LAST_DATE - timedelta(days=120),
        pl.col("death_date").is_null(),
    )
    assert (alive["prom_3m_invited"] == 1).all()
    answered = (invited["prom_3m_answered"] == 1).fill_null(False)
    assert 0.58 <= answered.mean() <= 0.72
    assert registrations.filter(
        pl.col("prom_3m_answered") == 1, pl.col("prom_3m_invited").is_null()
    ).is_empty()
    by_questionnaire = registrations.filter(pl.col("prom_3m_answered") == 1)
    assert (by_questionnaire["followup_method"] == 3).all()
    assert (by_questionnaire["followup_done"] == 1).all()
    assert (by_questionnaire["prom_3m_version"] == 1).all()


def test_questionnaire_answers_are_scored_as_real_responses(registrations: pl.DataFrame) -> None:
    """A sample of the generated answers, submitted as a patient would, gives back the stored
    mRS, EQ-5D index and blanks: the generator and the submission agree."""
    questionnaire = read_registry_folder(FOLDER).questionnaire("stroke_3m")
    names = [q.name for q in questionnaire.questions]
    sample = registrations.filter(pl.col("prom_3m_answered") == 1).head(300)
    for row in sample.select(*names, "mrs_3m", "eq5d_index_3m").iter_rows(named=True):
        values = answers_to_values(questionnaire, {n: row[n] for n in names}, LAST_DATE)
        assert values["mrs_3m"] == row["mrs_3m"]
        assert values["eq5d_index_3m"] == row["eq5d_index_3m"]
        assert all(values[n] == row[n] for n in names)


def test_eq5d_follows_mrs_and_response_follows_planted_effects(demo: StrokeDemo) -> None:
    answered = demo.registrations.filter(pl.col("prom_3m_answered") == 1)
    by_mrs = answered.group_by("mrs_3m").agg(pl.col("eq5d_index_3m").mean()).sort("mrs_3m")
    assert by_mrs["mrs_3m"].to_list() == [0, 1, 2, 3, 4, 5]
    means = by_mrs["eq5d_index_3m"].to_list()
    assert means == sorted(means, reverse=True)
    assert 0.85 <= means[0] <= 0.97 and means[5] <= 0.4
    assert 0.02 <= answered["eq5d_index_3m"].is_null().mean() <= 0.09  # one dimension blank
    rates = (
        demo.registrations.filter(pl.col("prom_3m_invited") == 1)
        .group_by("unit_id")
        .agg(pl.len(), (pl.col("prom_3m_answered") == 1).fill_null(False).mean().alias("rate"))
        .filter(pl.col("len") >= 100)
    )
    planted = [
        demo.truth["departments"][str(unit)]["effects"]["prom_response_log_odds"]
        for unit in rates["unit_id"]
    ]
    assert rates.height >= 10
    assert np.corrcoef(rates["rate"].to_numpy(), planted)[0, 1] > 0.5


def test_coverage(demo: StrokeDemo) -> None:
    held = demo.registrations.group_by(
        "unit_id", pl.col("event_date").dt.year().cast(pl.Int32).alias("year")
    ).len()
    coverage = demo.coverage.join(held, on=["unit_id", "year"], how="left").with_columns(
        (pl.col("len").fill_null(0) / pl.col("eligible")).alias("coverage")
    )
    assert demo.coverage.schema == {"unit_id": pl.Int64, "year": pl.Int32, "eligible": pl.Int64}
    assert coverage.filter(pl.col("eligible") < pl.col("len")).is_empty()
    low = coverage.filter(pl.col("coverage") < 0.6, pl.col("eligible") >= 20)
    assert 2 <= low["unit_id"].n_unique() <= 4
    typical = coverage.filter(pl.col("eligible") >= 50)["coverage"]
    assert typical.is_between(0.83, 0.99).mean() >= 0.75
    truth = demo.truth["coverage"]
    for unit, year, value in coverage.select("unit_id", "year", "coverage").iter_rows():
        assert truth[str(unit)][str(year)] == pytest.approx(value, abs=1e-4)


def test_truth_is_plain_json(demo: StrokeDemo) -> None:
    truth = json.loads(json.dumps(demo.truth))
    assert truth == demo.truth
    assert truth["seed"] == SEED and truth["version"] >= 1
    assert truth["registrations"] == REGISTRATIONS
    department = truth["departments"]["100001"]
    assert set(department["effects"]) >= {
        "thrombolysis_log_odds",
        "door_to_needle_log_ratio",
        "stroke_unit_log_odds",
        "swallow_screening_log_odds",
        "death_30d_log_odds",
        "independent_3m_log_odds",
        "prom_response_log_odds",
    }
    assert {"mean_age", "mean_nihss"} <= set(department["case_mix"])


def test_the_shipped_tree_gives_the_university_hospitals_the_largest_volumes() -> None:
    units = read_unit_tree()
    demo = generate(units, REGISTRATIONS, seed=1)
    departments = units.filter(pl.col("level") == "department")
    assert set(demo.registrations["unit_id"]) == set(departments["unit_id"])
    parents = units.select(
        pl.col("unit_id").alias("parent_id"), pl.col("short_name").alias("hospital")
    )
    volumes = (
        demo.registrations.group_by("unit_id")
        .len()
        .join(departments.join(parents, on="parent_id"), on="unit_id")
        .sort("len", descending=True)
    )
    assert set(volumes["hospital"].head(len(UNIVERSITY_HOSPITALS))) == set(UNIVERSITY_HOSPITALS)
    assert volumes["len"].max() >= 10 * volumes["len"].median()
