"""The columnar "missing required fields" agrees with `check_values`, record by record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from data_access.bulk_load import values_as_json
from data_access.org_tree import read_unit_tree
from data_access.snapshot import column_types, typed_values
from entry.completeness import (
    MISSING_TOTAL,
    apply_form_logic,
    completeness,
    missing_column,
    missing_required,
    shown_column,
)
from entry.dictionary import load_dictionary
from entry.record_rules import check_values, read_document
from registries.stroke.synthetic import generate

STROKE = Path(__file__).resolve().parents[2] / "registries" / "stroke"
DICTIONARY = load_dictionary(STROKE / "dictionary.csv")
FORMS = DICTIONARY.forms


@pytest.fixture(scope="module")
def documents() -> pl.DataFrame:
    """Synthetic registrations with a fifth of all values blanked at random, as stored JSON."""
    demo = generate(read_unit_tree(), registrations=600, seed=11).registrations
    rng = np.random.default_rng(5)
    variables = [c for c in demo.columns if c in column_types(DICTIONARY)]
    blanked = demo.with_columns(
        pl.when(pl.Series(rng.random(demo.height) < 0.2)).then(None).otherwise(pl.col(c)).alias(c)
        for c in variables
    )
    return blanked.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("id"),
        "unit_id",
        "event_date",
        "status",
        values_as_json(blanked).alias("values"),
    )


def _columnar(documents: pl.DataFrame) -> pl.DataFrame:
    typed = typed_values(documents, column_types(DICTIONARY)).lazy()
    return missing_required(apply_form_logic(typed, DICTIONARY), DICTIONARY, FORMS).collect()


def test_missing_required_agrees_with_check_values(documents: pl.DataFrame) -> None:
    columnar = _columnar(documents)
    assert columnar[MISSING_TOTAL].sum() > 0, "the sample must exercise missing fields"
    assert (columnar[MISSING_TOTAL] == 0).sum() > 0, "and complete records too"
    for row, document in zip(columnar.iter_rows(named=True), documents["values"], strict=True):
        values, acknowledged = read_document(json.loads(document))
        for form in FORMS:
            checked = check_values(
                DICTIONARY, values, form=form, target_status="complete", acknowledged=acknowledged
            )
            required = [e for e in checked.errors if e.rule.endswith(":required")]
            assert row[missing_column(form)] == len(required), (row["id"], form, required)
            for variable in DICTIONARY.variables:
                if variable.form == form:
                    shown = variable.name not in checked.skipped
                    assert row[shown_column(variable.name)] is shown, (row["id"], variable.name)


def test_completeness_counts_only_registrations_that_show_the_field(
    documents: pl.DataFrame,
) -> None:
    logic = apply_form_logic(typed_values(documents, column_types(DICTIONARY)).lazy(), DICTIONARY)
    summary = completeness(logic, DICTIONARY, "admission").to_dicts()
    by_name = {row["variable"]: row for row in summary}
    assert list(by_name) == [
        v.name
        for v in DICTIONARY.variables
        if v.form == "admission" and v.type not in ("calculated", "descriptive")
    ]
    # thrombolysis_datetime is shown only after thrombolysis = 1 (itself shown for infarcts).
    frame = logic.collect()
    treated = frame.filter(pl.col("thrombolysis") == 1)
    assert by_name["thrombolysis_datetime"]["shown"] == treated.height < documents.height
    assert by_name["thrombolysis_datetime"]["with_value"] == (
        treated["thrombolysis_datetime"].is_not_null().sum()
    )
    assert by_name["admission_date"]["shown"] == documents.height
    share = by_name["admission_date"]["share"]
    assert share == pytest.approx(frame["admission_date"].is_not_null().mean())
    assert 0.7 < share < 0.9  # a fifth was blanked


def test_completeness_of_nothing_is_unknown_not_zero() -> None:
    empty = pl.DataFrame(
        schema={"id": pl.Int64, "unit_id": pl.Int64, "event_date": pl.Date, "status": pl.String}
        | {"values": pl.String}
    )
    logic = apply_form_logic(typed_values(empty, column_types(DICTIONARY)).lazy(), DICTIONARY)
    summary = completeness(logic, DICTIONARY, "discharge")
    assert summary.height > 0
    assert summary["shown"].sum() == 0 and summary["share"].null_count() == summary.height
