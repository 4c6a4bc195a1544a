"""Fair to case mix: on the demo registry, risk-standardised 30-day survival ranks departments
as the generator's planted quality does, and better than the crude rate.

The generator plants a department effect on the log-odds of death within 30 days (higher =
more deaths) and gives departments different case mix (age, severity, atrial fibrillation,
function before the stroke); university hospitals are both sicker and better. Survival
should therefore correlate negatively with the planted effect, so the test ranks against
minus the effect. Each department is pooled over the years: its risk-standardised survival
is ΣO/ΣE × the nation's crude survival, whose ranks are those of ΣO/ΣE.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from scipy import stats

from data_access.org_tree import read_unit_tree
from entry.registry_folder import read_registry_folder
from indicators import compute_results
from registries.stroke.synthetic import generate

STROKE = Path(__file__).resolve().parents[2] / "registries" / "stroke"


@pytest.mark.slow
def test_risk_standardised_survival_tracks_the_planted_effects() -> None:
    units = read_unit_tree()
    demo = generate(units, 200_000, seed=2026)
    survival = [
        item for item in read_registry_folder(STROKE).indicators if item.key == "survival_30_days"
    ]
    complete = demo.registrations.filter(pl.col("status") == "complete")
    results = compute_results(complete, survival, units)

    departments = (
        results.filter(pl.col("level") == "department")
        .group_by("unit_id")
        .agg(
            (pl.col("observed").sum() / pl.col("expected").sum()).alias("adjusted"),
            (pl.col("numerator").sum() / pl.col("denominator").sum()).alias("crude"),
        )
        .join(
            pl.DataFrame(
                [
                    (int(unit), truth["effects"]["death_30d_log_odds"])
                    for unit, truth in demo.truth["departments"].items()
                ],
                schema={"unit_id": pl.Int64, "death_effect": pl.Float64},
                orient="row",
            ),
            on="unit_id",
        )
    )
    quality = -departments["death_effect"]
    adjusted = float(stats.spearmanr(departments["adjusted"], quality).statistic)
    crude = float(stats.spearmanr(departments["crude"], quality).statistic)
    print(
        f"\n{departments.height} departments: Spearman with the planted effect "
        f"(survival vs minus the death effect): risk-standardised {adjusted:.3f}, crude {crude:.3f}"
    )
    assert adjusted >= 0.8
    assert adjusted > crude
