"""The one door through which public pages and the public API read results.

Everything here goes through `indicators.public_results`, so a page cannot show a suppressed
number by forgetting a filter: the numbers are gone before a page sees the frame. Results
come from `results_cache` (computed once per data version), so a page never waits for a
refit; the unit names come from the database's tree.
"""

from __future__ import annotations

import flask
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
    `short_name`. Made once per results (the cache hands out the same frame while they
    are current) and tree: suppressing and naming took 3-4 ms of every rendering at a
    million registrations.
    """
    results, tree = cached_results(settings(), database(), registry), units()
    kept = _PUBLISHED.get(registry.key)
    if kept is not None and kept[0] is results and kept[1].equals(tree):
        return kept[2]
    shown = published(results, registry, tree)
    _PUBLISHED[registry.key] = (results, tree, shown)
    return shown


_PUBLISHED: dict[str, tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]] = {}
"""Per registry: the results and tree the public frame was last made of, and that frame."""


def published(results: pl.DataFrame, registry: RegistryFolder, tree: pl.DataFrame) -> pl.DataFrame:
    """`public_frame` from given results and tree, for callers outside a request (the report
    sender names its own database and settings)."""
    shown = public_results(results, registry.indicators)
    return shown.join(tree.drop("level"), on="unit_id", how="left", maintain_order="left")


def units() -> pl.DataFrame:
    """The organisation tree: unit_id, parent_id, level, name, short_name; read once per
    request (a unit's page asked for it twice)."""
    if not flask.has_request_context():
        return read_units(database()).select(UNIT_COLUMNS)
    if "portal_units" not in flask.g:
        flask.g.portal_units = read_units(database()).select(UNIT_COLUMNS)
    tree: pl.DataFrame = flask.g.portal_units
    return tree
