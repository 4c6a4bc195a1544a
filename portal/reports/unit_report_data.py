"""The numbers of a unit's report, gathered by the same rules as the "my unit" page.

The unit's own results come unsuppressed through `my_unit_data.own_results`, which checks
the reader's scope first (the subscriber's grants, read again at send time); the nation and
the region beside them come from the public results only (`public_data.published`), so
a report never carries another unit's suppressed number. The report's year is the newest
with results for the unit: the current year's (preliminary) figures when there are any,
since a weekly report of last year's final numbers would say the same thing every week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from data_access.access import AccessScope
from data_access.database import Database
from data_access.reference_data import read_units
from entry.registry_folder import RegistryFolder
from indicators import Indicator
from portal.components.my_unit_data import own_results, region_of, with_names, years_with_results
from portal.components.result_figures import with_standardised_interval
from portal.public_data import UNIT_COLUMNS, published
from portal.results_cache import cached_results
from portal.settings import Settings

Row = dict[str, Any]


@dataclass(frozen=True)
class IndicatorFigures:
    """One indicator's rows: the report year's (unit, region, nation) and every year's."""

    indicator: Indicator
    own: Row | None
    region: Row | None
    nation: Row | None
    own_years: tuple[Row, ...]
    nation_years: tuple[Row, ...]


@dataclass(frozen=True)
class UnitReport:
    """Everything the PDF shows; `year` is None when the unit has no results yet."""

    registry: RegistryFolder
    unit: Row
    region: Row | None
    year: int | None
    preliminary: bool
    made_on: date
    indicators: tuple[IndicatorFigures, ...]


def gather_unit_report(
    settings: Settings,
    database: Database,
    registry: RegistryFolder,
    scope: AccessScope,
    unit_id: int,
    today: date,
) -> UnitReport:
    """The report of `unit_id` as `scope` may read it; raises `AccessDenied` if it may not."""
    results = cached_results(settings, database, registry)
    tree = read_units(database).select(UNIT_COLUMNS)
    own = with_standardised_interval(
        with_names(own_results(scope, registry.key, results, unit_id), tree)
    )
    public = with_standardised_interval(published(results, registry, tree))
    years = years_with_results(own)
    year = years[-1] if years else None
    unit = tree.filter(pl.col("unit_id") == unit_id).to_dicts()[0]
    region = region_of(unit_id, tree)
    figures = tuple(
        _figures(indicator, own, public, region, year) for indicator in registry.indicators
    )
    return UnitReport(
        registry=registry,
        unit=unit,
        region=region,
        year=year,
        preliminary=year is not None and year >= today.year,
        made_on=today,
        indicators=figures,
    )


def _figures(
    indicator: Indicator,
    own: pl.DataFrame,
    public: pl.DataFrame,
    region: Row | None,
    year: int | None,
) -> IndicatorFigures:
    own_rows = own.filter(pl.col("indicator") == indicator.key).sort("period")
    others = public.filter(pl.col("indicator") == indicator.key)
    nation_rows = others.filter(pl.col("level") == "nation").sort("period")
    region_rows = others.filter(pl.col("unit_id") == (region["unit_id"] if region else -1))
    return IndicatorFigures(
        indicator=indicator,
        own=_in_year(own_rows, year),
        region=_in_year(region_rows, year),
        nation=_in_year(nation_rows, year),
        own_years=tuple(own_rows.to_dicts()),
        nation_years=tuple(nation_rows.to_dicts()),
    )


def _in_year(rows: pl.DataFrame, year: int | None) -> Row | None:
    found = rows.filter(pl.col("period") == year).to_dicts() if year is not None else []
    return found[0] if found else None
