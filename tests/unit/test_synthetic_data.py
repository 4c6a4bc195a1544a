"""The shared synthetic-data generator and the hip-fracture registry's description of it."""

from __future__ import annotations

import copy
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal
from scipy.stats import spearmanr

from entry.record_rules import RecordRules
from entry.registry_folder import RegistryFolder, read_registry_folder
from entry.synthetic_data import SyntheticDemo, generate
from entry.synthetic_description import (
    SyntheticDescriptionError,
    parse_description,
    read_description,
)
from indicators import compute_results

FOLDER = Path(__file__).resolve().parents[2] / "registries" / "hipfracture"
UNITS = pl.read_csv(FOLDER.parents[1] / "data_access" / "units.csv")
REGISTRATIONS = 60_000


@pytest.fixture(scope="module")
def registry() -> RegistryFolder:
    return read_registry_folder(FOLDER)


def _generate(registry: RegistryFolder, n: int, seed: int) -> SyntheticDemo:
    description = read_description(
        FOLDER, registry.dictionary, registry.event_date_variable, registry.questionnaires
    )
    return generate(description, registry.dictionary, "admission_date", UNITS, n, seed)


@pytest.fixture(scope="module")
def demo(registry: RegistryFolder) -> SyntheticDemo:
    return _generate(registry, REGISTRATIONS, seed=2026)


def test_the_frame_has_the_columns_the_loader_expects(
    registry: RegistryFolder, demo: SyntheticDemo
) -> None:
    frame = demo.registrations
    variables = [v.name for v in registry.dictionary.variables if v.value_type is not None]
    assert frame.columns == ["patient_index", "unit_id", "event_date", "status", *variables]
    assert frame.height == REGISTRATIONS and demo.patients.height == REGISTRATIONS
    hospitals = UNITS.filter(pl.col("level") == "hospital")["unit_id"]
    assert frame["unit_id"].is_in(hospitals.implode()).all()
    assert set(frame["status"].unique()) == {"draft", "complete", "locked"}
    assert (frame["event_date"] == frame["admission_date"]).all()
    assert demo.coverage.columns == ["unit_id", "year", "eligible"]
    per_cell = frame.group_by("unit_id", pl.col("event_date").dt.year().alias("year")).len()
    joined = per_cell.join(demo.coverage, on=["unit_id", "year"], how="left")
    assert (joined["eligible"] >= joined["len"]).all()
    assert set(demo.truth["units"]) == {str(u) for u in hospitals}


def test_same_seed_same_frame_and_another_seed_another(registry: RegistryFolder) -> None:
    first, again = _generate(registry, 3_000, seed=5), _generate(registry, 3_000, seed=5)
    assert_frame_equal(first.registrations, again.registrations)
    assert_frame_equal(first.patients, again.patients)
    assert first.truth == again.truth
    other = _generate(registry, 3_000, seed=6).registrations
    assert not other.equals(first.registrations)


def _as_input(row: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in row.items() if v is not None}


def test_complete_records_pass_the_registrys_own_rules(
    registry: RegistryFolder, demo: SyntheticDemo
) -> None:
    rules = RecordRules(registry.dictionary)
    calculated = {v.name for v in registry.dictionary.variables if v.type == "calculated"}
    finished = demo.registrations.filter(pl.col("status") != "draft").sample(400, seed=1)
    assert finished.height == 400
    for row in finished.drop("patient_index", "unit_id", "event_date", "status").iter_rows(
        named=True
    ):
        check = rules.check(_as_input(row), target_status="complete")
        assert check.may_save, (row, check.errors, check.unacknowledged)
        # Calculated and hidden fields agree with what the form derives.
        for name in calculated:
            assert check.values.get(name) == row[name], name
        assert all(row[name] is None for name in check.skipped)


def test_hidden_fields_are_blank_and_shown_ones_follow_the_logic(demo: SyntheticDemo) -> None:
    frame = demo.registrations
    neck = frame.filter(pl.col("fracture_type").is_in([1, 2]))
    assert neck["method_trochanteric"].null_count() == neck.height
    assert frame.filter(pl.col("prom_12m_answered").is_null())["eq5d_index_12m"].null_count() == (
        frame.filter(pl.col("prom_12m_answered").is_null()).height
    )
    answered = frame.filter(pl.col("prom_12m_answered") == 1)
    assert 0.4 < answered.height / frame["prom_12m_invited"].sum() < 0.8
    assert answered["eq5d_index_12m"].drop_nulls().is_between(-0.5, 1.0).all()
    too_recent = frame.filter(pl.col("event_date") > date(2025, 10, 31))
    assert too_recent["prom_12m_invited"].null_count() == too_recent.height


def test_every_indicator_has_rows_at_every_level_and_risk_adjustment_finds_the_planted_effects(
    registry: RegistryFolder, demo: SyntheticDemo
) -> None:
    frame = demo.registrations.filter(pl.col("status") != "draft")
    results = compute_results(frame, list(registry.indicators), UNITS)
    levels = {"nation", "region", "trust", "hospital"}
    for indicator in registry.indicators:
        found = set(results.filter(pl.col("indicator") == indicator.key)["level"].cast(pl.String))
        assert found == levels, indicator.key
    mortality = (
        results.filter((pl.col("indicator") == "mortality_30d") & (pl.col("level") == "hospital"))
        .group_by("unit_id")
        .agg(
            pl.col("risk_standardised").mean(),
            pl.col("estimate").mean().alias("crude"),
            pl.col("denominator").sum(),
        )
        .filter(pl.col("denominator") >= 200)
    )
    planted = pl.DataFrame(
        {
            "unit_id": [int(u) for u in demo.truth["units"]],
            "planted": [t["effects"]["death_30d"] for t in demo.truth["units"].values()],
        }
    )
    joined = mortality.join(planted, on="unit_id")
    assert joined.height >= 40
    adjusted = spearmanr(joined["risk_standardised"], joined["planted"]).statistic
    crude = spearmanr(joined["crude"], joined["planted"]).statistic
    assert adjusted > 0.6 and adjusted > crude + 0.05, (adjusted, crude)


BAD_DESCRIPTIONS = [
    (["variables", "sex"], {"categorical": {1: 0.5, 3: 0.5}}, "variable sex: codes ['3']"),
    (["variables", "sex"], {"categorical": {1: 0.5, 2: 0.4}}, "sum to 1"),
    (["variables", "age"], {"normal": {"mean": 80, "sd": 9}}, "variable age: may draw values"),
    (["variables", "dementia"], {"logistic": {"intercept": 1, "terms": {"agee": 1}}}, "agee"),
    (["variables", "dementia"], {"logistic": {"intercept": 1, "effect": "nope"}}, "'nope'"),
    (["variables", "no_such"], {"constant": 1}, "variable no_such: not in the dictionary"),
    (["variables", "hours_to_surgery"], {"constant": 1}, "calculated variable is not drawn"),
    (["variables", "age"], {"uniform": [50, 90], "lognormal": {}}, "needs exactly one of"),
    (["prom", "questionnaire"], "other", "prom: questionnaire 'other'"),
]


@pytest.mark.parametrize(("where", "value", "reason"), BAD_DESCRIPTIONS)
def test_a_bad_description_is_refused_with_file_variable_and_reason(
    registry: RegistryFolder, where: list[str], value: object, reason: str
) -> None:
    raw = copy.deepcopy(yaml.safe_load((FOLDER / "synthetic.yaml").read_text(encoding="utf-8")))
    target = raw
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    path = FOLDER / "synthetic.yaml"
    with pytest.raises(SyntheticDescriptionError) as caught:
        parse_description(raw, path, registry.dictionary, "admission_date", registry.questionnaires)
    assert str(path) in str(caught.value)
    assert any(reason in problem for problem in caught.value.problems), caught.value.problems


def test_a_variable_may_only_use_variables_drawn_above_it(registry: RegistryFolder) -> None:
    raw = yaml.safe_load((FOLDER / "synthetic.yaml").read_text(encoding="utf-8"))
    variables = raw["variables"]
    raw["variables"] = {"dementia": variables["dementia"], **variables}  # before age
    with pytest.raises(SyntheticDescriptionError, match="variable dementia: logistic: term"):
        parse_description(raw, FOLDER, registry.dictionary, "admission_date", ())


def test_a_hundred_thousand_registrations_take_well_under_ten_seconds(
    registry: RegistryFolder,
) -> None:
    """Whole arrays, no loops over rows: a tenth of a million stands in for the million."""
    started = time.perf_counter()
    _generate(registry, 100_000, seed=1)
    assert time.perf_counter() - started < 10
