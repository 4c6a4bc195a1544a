"""The one door through which public pages and the public API read results.

Everything here goes through `indicators.public_results`, so a page cannot show a suppressed
number by forgetting a filter: the numbers are gone before a page sees the frame. Results
come from `results_cache` (computed once per data version), so a page never waits for a
refit; the unit names come from the database's tree.
"""

from __future__ import annotations

import polars as pl

from data_access.reference_data import read_units
from entry.registry_folder import RegistryFolder
from indicators import Indicator, public_results
from portal.auth.identity import database, settings
from portal.results_cache import cached_results

UNIT_COLUMNS = ("unit_id", "parent_id", "level", "name", "short_name")


def find_indicator(registry: RegistryFolder, key: str | None) -> Indicator | None:
    return next((i for i in registry.indicators if i.key == key), None)


def public_frame(registry: RegistryFolder) -> pl.DataFrame:
    """The registry's public results (suppressed numbers nulled, `note` set) with unit names.

    Columns: the engine's result columns, `note`, and the unit's `parent_id`, `name` and
    `short_name`.
    """
    return published(cached_results(settings(), database(), registry), registry, units())


def published(results: pl.DataFrame, registry: RegistryFolder, tree: pl.DataFrame) -> pl.DataFrame:
    """`public_frame` from given results and tree, for callers outside a request (the report
    sender names its own database and settings)."""
    shown = public_results(results, registry.indicators)
    return shown.join(tree.drop("level"), on="unit_id", how="left", maintain_order="left")


def units() -> pl.DataFrame:
    """The organisation tree: unit_id, parent_id, level, name, short_name."""
    return read_units(database()).select(UNIT_COLUMNS)
