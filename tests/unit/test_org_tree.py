"""The shipped organisation tree and its loader, validator and ancestor table."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from data_access.org_tree import (
    UNIT_LEVELS,
    UNIT_SCHEMA,
    ancestors,
    read_unit_tree,
    validate_unit_tree,
)

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
PUBLIC_REGIONS = {883658752, 983658776, 983658725, 991324968}  # the four RHFs


@pytest.fixture(scope="module")
def units() -> pl.DataFrame:
    return read_unit_tree()


@pytest.fixture(scope="module")
def source() -> pl.DataFrame:
    """The reference hierarchy below the nation, without the "Private" region 999."""
    frame = pl.read_csv(
        REFERENCE / "hospital_structure.csv",
        separator=";",
        schema_overrides={
            "OrgNr": pl.Int64(),
            "NivaaOpp": pl.Int64(),
            "Nivaa": pl.Int64(),
        },
    )
    regions = frame.filter(pl.col("OrgNr").is_in(list(PUBLIC_REGIONS)))
    trusts = frame.filter(
        pl.col("Nivaa") == 2, pl.col("NivaaOpp").is_in(regions["OrgNr"].implode())
    )
    hospitals = frame.filter(
        pl.col("Nivaa") == 3, pl.col("NivaaOpp").is_in(trusts["OrgNr"].implode())
    )
    return pl.concat([regions, trusts, hospitals])


def of_level(units: pl.DataFrame, level: str) -> pl.DataFrame:
    return units.filter(pl.col("level") == level)


# --- the shipped file ---------------------------------------------------------------


def test_shipped_file_is_valid_and_typed(units: pl.DataFrame) -> None:
    assert validate_unit_tree(units) == []
    assert dict(units.schema) == UNIT_SCHEMA


def test_one_nation_and_four_regions(units: pl.DataFrame) -> None:
    nation = of_level(units, "nation")
    assert nation.select("unit_id", "parent_id", "org_number", "name").rows() == [
        (1, None, None, "Nasjonalt")
    ]
    assert set(of_level(units, "region")["unit_id"]) == PUBLIC_REGIONS
    assert set(of_level(units, "region")["parent_id"]) == {1}


def test_rows_are_depth_first(units: pl.DataFrame) -> None:
    """Every unit's parent is the nearest row above it at the parent's level."""
    depth = pl.col("level").to_physical()
    nearest_above = units.with_columns(
        [
            pl.when(depth == level)
            .then(pl.col("unit_id"))
            .forward_fill()
            .shift(1)
            .alias(f"at_{level}")
            for level in range(len(UNIT_LEVELS))
        ]
    ).with_columns(
        expected_parent=pl.coalesce(
            pl.when(depth == level + 1).then(pl.col(f"at_{level}"))
            for level in range(len(UNIT_LEVELS))
        )
    )
    assert units["level"][0] == "nation"
    assert nearest_above.filter(pl.col("parent_id") != pl.col("expected_parent")).height == 0


def test_regions_trusts_hospitals_agree_with_enhetsregisteret(
    units: pl.DataFrame, source: pl.DataFrame
) -> None:
    public = units.filter(pl.col("level").is_in(["region", "trust", "hospital"]))
    assert (public["unit_id"] == public["org_number"]).all()
    joined = public.join(source, left_on="org_number", right_on="OrgNr", how="left")
    assert joined["Nivaa"].null_count() == 0, "org number not in the reference"
    depth = pl.col("level").to_physical().cast(pl.Int64())
    disagree = joined.filter(
        (depth != pl.col("Nivaa"))
        | (pl.col("parent_id") != pl.col("NivaaOpp"))
        | (pl.col("register_name") != pl.col("OrgNavnEnhetsreg"))
        | (pl.col("short_name") != pl.col("Kortnavn"))
    )
    assert disagree.height == 0, disagree


def test_every_trust_of_the_four_regions_is_present(
    units: pl.DataFrame, source: pl.DataFrame
) -> None:
    assert set(of_level(units, "trust")["unit_id"]) == set(
        source.filter(pl.col("Nivaa") == 2)["OrgNr"]
    )


def test_private_pseudo_region_is_left_out(units: pl.DataFrame) -> None:
    assert 999 not in units["unit_id"]
    assert 943545634 not in units["unit_id"]  # Aleris Helse AS, under "Private"


def test_no_two_hospitals_of_a_trust_share_a_short_name(units: pl.DataFrame) -> None:
    assert (
        not of_level(units, "hospital")
        .select(pl.struct("parent_id", "short_name").is_duplicated().any())
        .item()
    )


def test_every_source_hospital_is_a_row_or_merged_exactly_once(
    units: pl.DataFrame, source: pl.DataFrame
) -> None:
    hospitals = of_level(units, "hospital")
    covered = pl.concat(
        [
            hospitals["org_number"],
            hospitals["merged_org_numbers"].explode().drop_nulls(),
        ]
    )
    assert not covered.is_duplicated().any()
    assert set(covered) == set(source.filter(pl.col("Nivaa") == 3)["OrgNr"])


def test_merges_are_the_units_of_a_trust_sharing_a_short_name(
    units: pl.DataFrame, source: pl.DataFrame
) -> None:
    expected = (
        source.filter(pl.col("Nivaa") == 3)
        .group_by(
            pl.col("NivaaOpp").alias("parent_id"),
            pl.col("Kortnavn").alias("short_name"),
        )
        .agg(pl.col("OrgNr").sort().alias("members"))
    )
    actual = of_level(units, "hospital").select(
        "parent_id",
        "short_name",
        pl.concat_list("org_number", "merged_org_numbers").list.sort().alias("members"),
    )
    assert actual.sort("parent_id", "short_name").equals(expected.sort("parent_id", "short_name"))


@pytest.mark.parametrize(
    ("short_name", "main", "merged"),
    [
        ("Hammerfest", 974795833, {974285959, 979873190}),
        ("Aker", 974588951, {983971652}),  # the defunct AKER UNIVERSITETSSYKEHUS HF
        ("St. Olavs", 974749025, {913461223, 974749815, 973254782}),
        ("Haukeland", 974557746, {997512189, 973923811, 974557169, 996663191}),
        ("Tønsberg", 974633574, {899643992}),
    ],
)
def test_merged_hospital_is_the_main_somatic_unit(
    units: pl.DataFrame, short_name: str, main: int, merged: set[int]
) -> None:
    row = of_level(units, "hospital").filter(pl.col("short_name") == short_name)
    assert row["unit_id"].to_list() == [main]
    assert set(row["merged_org_numbers"][0]) == merged


def test_departments_sit_under_hospitals(units: pl.DataFrame) -> None:
    departments = of_level(units, "department")
    assert departments.height >= 45
    assert departments["org_number"].null_count() == departments.height
    parents = departments.join(units, left_on="parent_id", right_on="unit_id", suffix="_parent")
    assert parents.height == departments.height
    assert (parents["level_parent"] == "hospital").all()
    assert not departments["parent_id"].is_duplicated().any(), "one stroke department per hospital"
    assert not parents["register_name_parent"].str.contains("REHAB|HABIL|POLIKLINIKK").any()


def test_department_ids_count_up_in_file_order(units: pl.DataFrame) -> None:
    ids = of_level(units, "department")["unit_id"].to_list()
    assert ids == list(range(100001, 100001 + len(ids)))


@pytest.mark.parametrize(
    ("unit_id", "name", "short_name", "hospital_id"),
    [
        (
            100001,
            "Medisinsk avdeling, Hammerfest sykehus",
            "Hammerfest med.",
            974795833,
        ),
        (
            100015,
            "Nevrologisk avdeling, St. Olavs hospital",
            "St. Olavs nevro",
            974749025,
        ),
        (
            100024,
            "Nevrologisk avdeling, Haukeland universitetssjukehus",
            "Haukeland nevro",
            974557746,
        ),
        (100032, "Nevrologisk avdeling, Ullevål sykehus", "Ullevål nevro", 974589095),
        (
            100049,
            "Medisinsk avdeling, Diakonhjemmet sykehus",
            "Diakonhjemmet med.",
            974116804,
        ),
    ],
)
def test_department_ids_are_stable(
    units: pl.DataFrame, unit_id: int, name: str, short_name: str, hospital_id: int
) -> None:
    row = units.filter(pl.col("unit_id") == unit_id)
    assert row.select("level", "name", "short_name", "parent_id").rows() == [
        ("department", name, short_name, hospital_id)
    ]


# --- validation -------------------------------------------------------------------

VALID_ROWS = [
    (1, None, "nation", "Nasjonalt", "Nasjonalt"),
    (10, 1, "region", "Region", "Reg"),
    (20, 10, "trust", "Trust HF", "Trust"),
    (30, 20, "hospital", "Sykehus", "Syk"),
    (40, 30, "department", "Medisinsk avdeling", "Syk med."),
]


def tree(
    rows: list[tuple[int, int | None, str, str | None, str | None]],
) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "unit_id": pl.Int64(),
            "parent_id": pl.Int64(),
            "level": pl.String(),
            "name": pl.String(),
            "short_name": pl.String(),
        },
        orient="row",
    )


def test_small_tree_is_valid() -> None:
    assert validate_unit_tree(tree(VALID_ROWS)) == []


@pytest.mark.parametrize(
    ("extra_or_replaced", "expected"),
    [
        ([(30, 20, "hospital", "Annet sykehus", "Annet")], "duplicate unit_id: 30"),
        (
            [(41, 99, "department", "Avdeling", "Avd")],
            "unknown parent_id at unit_id: 41",
        ),
        (
            [(31, 10, "hospital", "Sykehus uten HF", "Uten HF")],
            "level not exactly one below the parent's at unit_id: 31",
        ),
        (
            [(2, None, "nation", "Enda en nasjon", "Nasjon 2")],
            "expected exactly one root (unit without parent_id), found 2: 1, 2",
        ),
        (
            [(50, 51, "region", "A", "A"), (51, 50, "region", "B", "B")],
            "cycle through unit_id: 50, 51",
        ),
        ([(52, 52, "region", "Selv", "Selv")], "cycle through unit_id: 52"),
        ([(42, 30, "department", "  ", "Tom")], "blank name at unit_id: 42"),
        ([(43, 30, "department", "Avdeling", None)], "blank short_name at unit_id: 43"),
        ([(44, 30, "ward", "Post", "Post")], "unknown level (ward) at unit_id: 44"),
    ],
    ids=[
        "duplicate",
        "unknown-parent",
        "skipped-level",
        "two-roots",
        "cycle",
        "self-parent",
        "blank-name",
        "blank-short-name",
        "unknown-level",
    ],
)
def test_validation_reports_each_problem(
    extra_or_replaced: list[tuple[int, int | None, str, str | None, str | None]],
    expected: str,
) -> None:
    problems = validate_unit_tree(tree(VALID_ROWS + extra_or_replaced))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_validation_reports_a_cycle_without_any_root() -> None:
    looped = [(1, 40, "nation", "Nasjonalt", "Nasjonalt"), *VALID_ROWS[1:]]
    problems = validate_unit_tree(tree(looped))
    assert "expected exactly one root (unit without parent_id), found 0" in problems
    assert "cycle through unit_id: 1, 10, 20, 30, 40" in problems


def test_validation_reports_every_problem_at_once() -> None:
    broken = [
        *VALID_ROWS,
        (30, 20, "hospital", "", "Syk"),
        (41, 99, "department", "Avd", "Avd"),
    ]
    problems = validate_unit_tree(tree(broken))
    assert [problem.split(":")[0] for problem in problems] == [
        "duplicate unit_id",
        "blank name at unit_id",
        "unknown parent_id at unit_id",
    ]


def test_validation_names_missing_columns() -> None:
    assert validate_unit_tree(tree(VALID_ROWS).drop("short_name")) == [
        "missing column(s): short_name"
    ]


def test_read_unit_tree_raises_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(
        "unit_id,parent_id,level,org_number,register_name,name,short_name,merged_org_numbers\n"
        "1,,nation,,,Nasjonalt,Nasjonalt,\n"
        "2,,nation,,,Nasjonalt,Nasjonalt,\n"
        "3,1,trust,123,X HF,,X,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="invalid unit tree") as error:
        read_unit_tree(path)
    message = str(error.value)
    assert "blank name at unit_id: 3" in message
    assert "found 2: 1, 2" in message
    assert "level not exactly one below the parent's at unit_id: 3" in message


def test_read_unit_tree_parses_merged_org_numbers(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(
        "unit_id,parent_id,level,org_number,register_name,name,short_name,merged_org_numbers\n"
        "1,,nation,,,Nasjonalt,Nasjonalt,\n"
        "10,1,region,10,R,Region,R,11;12\n",
        encoding="utf-8",
    )
    assert read_unit_tree(path)["merged_org_numbers"].to_list() == [[], [11, 12]]


# --- ancestors ----------------------------------------------------------------------


def test_ancestors_of_a_small_tree() -> None:
    pairs = ancestors(tree(VALID_ROWS))
    assert pairs.filter(pl.col("unit_id") == 40).rows() == [
        (40, 1, "nation"),
        (40, 10, "region"),
        (40, 20, "trust"),
        (40, 30, "hospital"),
        (40, 40, "department"),
    ]
    assert pairs.filter(pl.col("unit_id") == 1).rows() == [(1, 1, "nation")]
    assert pairs.height == 1 + 2 + 3 + 4 + 5


def test_ancestors_of_the_shipped_tree(units: pl.DataFrame) -> None:
    pairs = ancestors(units)
    per_unit = pairs.group_by("unit_id").len().join(units.select("unit_id", "level"), on="unit_id")
    assert per_unit.height == units.height
    assert (per_unit["len"] == per_unit["level"].to_physical().cast(pl.UInt32()) + 1).all()
    ullevaal = pairs.filter(pl.col("unit_id") == 100032)
    assert ullevaal["ancestor_id"].to_list() == [
        1,
        991324968,
        993467049,
        974589095,
        100032,
    ]
    assert pairs.filter(pl.col("unit_id") == 1)["ancestor_id"].to_list() == [1]
