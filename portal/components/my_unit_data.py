"""The numbers of the "my unit" page: own results unsuppressed, everyone else's public.

A clinician or registrar sees their own unit's results in full, small numbers included:
they may read the unit's records anyway. Everything set beside them (the nation, the
region, the peer group) comes from `portal.public_data.public_frame` and so follows the
public rules. `own_results` is the only function here that reads unsuppressed results, and
it checks the caller's scope first.

Peer group (sammenlignbare enheter), the rule:

1. If the registry's `registry.yaml` names groups under `peer_groups:` and the unit is in
   one, its peers are the other units of that group (the first group that holds it):

   ```yaml
   peer_groups:
     - key: university
       name: {nb: Universitetssykehus, en: University hospitals}
       units: [974589095, 974557746]
   ```

2. Otherwise the peers are the units of the same level whose volume in the year falls in
   the same third (tertile) as the unit's. A unit's volume is its largest *published*
   denominator among the registry's indicators that year (about its number of patients);
   a unit whose every result is suppressed counts as the smallest. Only public numbers
   decide membership, so the grouping itself reveals nothing the public pages do not.

The peer group's figure is the median of its members' published estimates: computed from
public numbers only, it cannot be used to work out a suppressed one by subtraction, as a
pooled numerator and denominator could.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import yaml

from data_access.access import AccessDenied, AccessScope
from entry.registry_folder import RegistryFolder
from indicators.definition import Text

LEVEL_ORDER = ("nation", "region", "trust", "hospital", "department")
TERTILES = 3


@dataclass(frozen=True)
class PeerGroup:
    """The unit's peers: `rule` is "configured" (named in registry.yaml) or "volume"."""

    rule: str
    unit_ids: tuple[int, ...]
    name: Text | None = None
    tertile: int | None = None
    """0 (smallest third) to 2 (largest), for the volume rule."""


def user_units(scope: AccessScope, registry_key: str, tree: pl.DataFrame) -> list[dict[str, Any]]:
    """The units whose records the user may read, each grant's unit before the units below it.

    Grants on a hospital cover its departments, so the list holds the hospital and them.
    Rows of the tree (`unit_id`, `parent_id`, `level`, `name`, `short_name`), ordered by
    level and then name.
    """
    covered = scope.units(registry_key, "clinician", "registrar")
    rows = tree.filter(pl.col("unit_id").is_in(sorted(covered))).to_dicts()
    return sorted(rows, key=lambda r: (LEVEL_ORDER.index(str(r["level"])), str(r["name"])))


def chosen_unit(value: object, units: Sequence[Mapping[str, Any]]) -> int | None:
    """The unit asked for when it is one of the user's; None for anything else."""
    try:
        asked = int(str(value))
    except ValueError:
        return None
    return asked if any(u["unit_id"] == asked for u in units) else None


def region_of(unit_id: int, tree: pl.DataFrame) -> dict[str, Any] | None:
    """The unit's ancestor of level region (the unit itself for a region; None for the nation)."""
    rows = {r["unit_id"]: r for r in tree.to_dicts()}
    current = rows.get(unit_id)
    while current is not None and current["level"] != "region":
        current = rows.get(current["parent_id"])
    return current


def own_results(
    scope: AccessScope, registry_key: str, results: pl.DataFrame, unit_id: int
) -> pl.DataFrame:
    """The unit's unsuppressed results, for a user who may read its records.

    `results` are the engine's (`portal.results_cache.cached_results`); the rows come back
    with `note` null, as a public row that is shown has it. Raises `AccessDenied` otherwise.
    """
    if not scope.may_read_records(registry_key, unit_id):
        raise AccessDenied("own results need a clinician or registrar grant on the unit")
    return results.filter(pl.col("unit_id") == unit_id).with_columns(
        pl.lit(None, dtype=pl.String).alias("note")
    )


def with_names(frame: pl.DataFrame, tree: pl.DataFrame) -> pl.DataFrame:
    """Add `parent_id`, `name` and `short_name` from the tree, as `public_frame` has them."""
    extra = tree.select("unit_id", "parent_id", "name", "short_name")
    present = [c for c in ("parent_id", "name", "short_name") if c in frame.columns]
    return frame.drop(present).join(extra, on="unit_id", how="left", maintain_order="left")


def configured_peer_groups(registry: RegistryFolder) -> list[dict[str, Any]]:
    """The `peer_groups:` of the registry's registry.yaml; entries without units are ignored."""
    try:
        with (registry.path / "registry.yaml").open(encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError):
        return []
    groups = raw.get("peer_groups") if isinstance(raw, dict) else None
    return parse_peer_groups(groups)


def parse_peer_groups(groups: object) -> list[dict[str, Any]]:
    """Well-formed entries of a `peer_groups:` list: key, name (Text or None) and unit ids."""
    found: list[dict[str, Any]] = []
    for entry in groups if isinstance(groups, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("units"), list):
            continue
        units = tuple(u for u in entry["units"] if isinstance(u, int) and not isinstance(u, bool))
        name = entry.get("name")
        text = Text.model_validate(name) if isinstance(name, dict) else None
        found.append({"key": str(entry.get("key", "")), "name": text, "units": units})
    return found


def peer_group(
    public: pl.DataFrame,
    tree: pl.DataFrame,
    unit_id: int,
    year: int,
    configured: Sequence[Mapping[str, Any]] = (),
) -> PeerGroup:
    """The unit's peers in `year` by the rule of the module docstring (the unit left out)."""
    for group in configured:
        if unit_id in group["units"]:
            others = tuple(u for u in group["units"] if u != unit_id)
            return PeerGroup(rule="configured", unit_ids=others, name=group["name"])
    level = tree.filter(pl.col("unit_id") == unit_id)["level"].to_list()
    if not level:
        return PeerGroup(rule="volume", unit_ids=())
    volumes = volume_tertiles(public, tree, str(level[0]), year)
    mine = volumes.filter(pl.col("unit_id") == unit_id)["tertile"].to_list()
    tertile = int(mine[0]) if mine else 0
    peers = volumes.filter((pl.col("tertile") == tertile) & (pl.col("unit_id") != unit_id))
    return PeerGroup(rule="volume", unit_ids=tuple(peers["unit_id"].to_list()), tertile=tertile)


def volume_tertiles(
    public: pl.DataFrame, tree: pl.DataFrame, level: str, year: int
) -> pl.DataFrame:
    """`unit_id`, `volume`, `tertile` for every unit of `level` with results in `year`.

    Volume is the largest published denominator (0 where all are suppressed); ties share
    the lower rank, so equal volumes always fall in the same third.
    """
    rows = public.filter((pl.col("period") == year) & (pl.col("level") == level))
    volumes = (
        rows.group_by("unit_id")
        .agg(pl.col("denominator").max().fill_null(0).alias("volume"))
        .sort("unit_id")
    )
    count = volumes.height
    if count == 0:
        return volumes.with_columns(pl.lit(0, dtype=pl.Int64).alias("tertile"))
    rank = pl.col("volume").rank("min").cast(pl.Int64) - 1
    return volumes.with_columns((rank * TERTILES // count).alias("tertile"))


def peer_medians(public: pl.DataFrame, peers: PeerGroup, year: int) -> dict[str, dict[str, float]]:
    """Per indicator, the median of the peers' published estimate and risk-standardised
    value in `year` (a value none of them has published is left out)."""
    columns = ("estimate", "risk_standardised")
    medians = (
        public.filter((pl.col("period") == year) & pl.col("unit_id").is_in(list(peers.unit_ids)))
        .group_by("indicator")
        .agg(pl.col(c).median() for c in columns)
    )
    return {
        str(row["indicator"]): {
            c: float(row[c]) for c in columns if row[c] is not None and not math.isnan(row[c])
        }
        for row in medians.to_dicts()
    }


def years_with_results(own: pl.DataFrame) -> list[int]:
    return sorted(int(y) for y in own["period"].unique().to_list()) if own.height else []
