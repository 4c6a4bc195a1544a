"""National ids: parsing, every rule and its reason, the 2032 check digit, masking, synthetic ids.

Valid real-format ids here are Skatteetaten's and KITH/NHN's published worked examples, or
computed for this file with individual numbers far from where each date's series starts
(499 and 999, counting down), so they are unlikely to belong to anyone.
"""

from __future__ import annotations

import datetime as dt
import pickle
from dataclasses import FrozenInstanceError
from typing import get_args

import numpy as np
import polars as pl
import pytest

from entry import national_id
from entry.national_id import (
    InvalidNationalId,
    InvalidReason,
    NationalId,
    NationalIdKind,
    Sex,
    birth_century,
    is_valid_national_id,
    mask_national_id,
    parse_national_id,
    synthetic_national_ids,
)

K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def with_check_digits(nine: str, k1_remainder: int = 0) -> str | None:
    """An id from nine digits, its first check sum leaving `k1_remainder`; None if none exists.

    Written from Skatteetaten's formulas, independently of the module under test.
    """
    k1 = (k1_remainder - sum(int(d) * w for d, w in zip(nine, K1_WEIGHTS, strict=True))) % 11
    if k1 == 10:
        return None
    ten = nine + str(k1)
    k2 = -sum(int(d) * w for d, w in zip(ten, K2_WEIGHTS, strict=True)) % 11
    return None if k2 == 10 else ten + str(k2)


def valid_in_july(year: int, individual: int) -> tuple[str, int]:
    """A valid id born in July of two-digit `year` with this individual number, and its day."""
    for day in range(1, 32):
        made = with_check_digits(f"{day:02d}07{year:02d}{individual:03d}")
        if made:
            return made, day
    raise AssertionError("no day gives valid check digits")


# --- Valid ids ------------------------------------------------------------------------

VALID = [
    # value, kind, synthetic, birth date, sex
    # Skatteetaten, "Nytt fødselsnummer fra 2032": worked examples.
    ("02013299997", "fnr", False, dt.date(2032, 1, 2), "male"),
    ("30108299920", "fnr", False, dt.date(1982, 10, 30), "male"),
    # Worked example of the check-digit calculation (fnrinfo.no): 1800s series 500-749.
    ("31129956715", "fnr", False, dt.date(1899, 12, 31), "male"),
    # Norsk Helsenett's published test patient 6, a D-number.
    ("70019950032", "dnumber", False, dt.date(1899, 1, 30), "female"),
    # Computed: each century range, both sexes.
    ("15038012611", "fnr", False, dt.date(1980, 3, 15), "female"),
    ("15038012379", "fnr", False, dt.date(1980, 3, 15), "male"),
    ("01010550129", "fnr", False, dt.date(2005, 1, 1), "male"),
    ("01010550048", "fnr", False, dt.date(2005, 1, 1), "female"),
    ("15108690191", "fnr", False, dt.date(1986, 10, 15), "male"),
    ("15108690272", "fnr", False, dt.date(1986, 10, 15), "female"),
    ("31129970041", "fnr", False, dt.date(1899, 12, 31), "female"),
    ("01015460020", "fnr", False, dt.date(1854, 1, 1), "female"),
    # Leap days: 2000 and 1904 are leap years.
    ("29020070003", "fnr", False, dt.date(2000, 2, 29), "female"),
    ("29020410262", "fnr", False, dt.date(1904, 2, 29), "female"),
    # D-numbers: day + 40.
    ("55038012362", "dnumber", False, dt.date(1980, 3, 15), "male"),
    ("71010160124", "dnumber", False, dt.date(2001, 1, 31), "male"),
    # H-numbers: month + 40.
    ("15438012351", "hnumber", False, dt.date(1980, 3, 15), "male"),
    ("15438012432", "hnumber", False, dt.date(1980, 3, 15), "female"),
    # Synthetic (Tenor, month + 80), also on a D-number.
    ("15838012334", "fnr", True, dt.date(1980, 3, 15), "male"),
    ("55838012409", "dnumber", True, dt.date(1980, 3, 15), "female"),
    ("01922070381", "fnr", True, dt.date(2020, 12, 1), "male"),
    ("01922070462", "fnr", True, dt.date(2020, 12, 1), "female"),
    # Outside the 1964 table (widened D-number series, ids from 2032): read as the 1900s.
    ("15034560363", "fnr", False, dt.date(1945, 3, 15), "male"),
    ("15038080145", "fnr", False, dt.date(1980, 3, 15), "male"),
]


@pytest.mark.parametrize(("value", "kind", "synthetic", "birth_date", "sex"), VALID)
def test_valid_ids_parse_to_what_they_encode(
    value: str, kind: NationalIdKind, synthetic: bool, birth_date: dt.date, sex: Sex
) -> None:
    assert parse_national_id(value) == NationalId(
        digits=value, kind=kind, synthetic=synthetic, birth_date=birth_date, sex=sex
    )
    assert is_valid_national_id(value)


@pytest.mark.parametrize(
    "written",
    ["15038012611", " 15038012611", "15038012611\n", "\t150380 12611 ", "150380 12611"],
)
def test_surrounding_whitespace_and_one_space_after_the_date_are_accepted(written: str) -> None:
    assert parse_national_id(written).digits == "15038012611"


def test_parsed_id_is_immutable() -> None:
    parsed = parse_national_id("15038012611")
    with pytest.raises(FrozenInstanceError):
        parsed.digits = "15038012379"  # type: ignore[misc]


# --- Invalid ids: one row per way to fail ---------------------------------------------

INVALID = [
    # value, reason
    ("", "length"),
    ("   ", "length"),
    ("1503801261", "length"),
    ("150380126111", "length"),
    ("150380 1261", "length"),
    ("150380 126111", "length"),
    ("150380-12611", "not_digits"),
    ("150380  12611", "not_digits"),
    ("15038 012611", "not_digits"),
    ("1503 8012611", "not_digits"),
    ("15O38012611", "not_digits"),
    ("+4715038012611", "not_digits"),
    ("١٥٠٣٨٠١٢٦١١", "not_digits"),  # Arabic-Indic digits: str.isdigit() is true
    ("１５０３８０１２６１１", "not_digits"),  # fullwidth digits
    ("15038012611.", "not_digits"),
    # Day field: 01-31, or 41-71 for a D-number.
    ("00018010321", "date"),
    ("32018010150", "date"),
    ("40018010153", "date"),
    ("72018010144", "date"),
    ("80018010147", "date"),
    # Month field: 01-12, 41-52 (H-number) or 81-92 (synthetic).
    ("15008010126", "date"),
    ("15138010144", "date"),
    ("15408010109", "date"),
    ("15538010127", "date"),
    ("15808010191", "date"),
    ("15938010371", "date"),
    # A D-number cannot also be an H-number.
    ("55438010172", "date"),
    # Not a calendar date: 31 April; 29 February 1900 (individual number < 500) and 2001.
    ("31048010191", "date"),
    ("29020010027", "date"),
    ("29020150341", "date"),
    # Check digits: a typo in a valid id, and published invalid examples.
    ("15038012612", "check_digit_2"),
    # k1 one higher leaves remainder 1, allowed from 2032; the second check digit catches it.
    ("15038012621", "check_digit_2"),
    ("15038012651", "check_digit_1"),
    ("15038021611", "check_digit_1"),
    ("15038010481", "check_digit_1"),  # first check sum leaves 4: invalid even from 2032
    ("15108695077", "check_digit_1"),  # python-stdnum / dataprep's invalid example
    ("01010101010", "check_digit_2"),
    ("11111111111", "check_digit_2"),
    ("12345678910", "date"),  # the usual placeholder: month 34
    ("00000000000", "date"),
]


@pytest.mark.parametrize(("value", "reason"), INVALID)
def test_invalid_ids_name_the_rule_they_break(value: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as caught:
        parse_national_id(value)
    assert caught.value.reason == reason
    assert not is_valid_national_id(value)


def test_every_reason_has_a_case() -> None:
    assert {reason for _, reason in INVALID} == set(get_args(InvalidReason))


@pytest.mark.parametrize(
    ("value", "reason"), [case for case in INVALID if len(case[0].strip()) >= 11]
)
def test_error_messages_never_repeat_the_id(value: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as caught:
        parse_national_id(value)
    message = str(caught.value)
    assert value.strip() not in message
    assert value.strip()[6:] not in message  # nor the personal number


def test_invalid_national_id_is_a_value_error_that_survives_pickling() -> None:
    with pytest.raises(ValueError) as caught:
        parse_national_id("15038012612")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert isinstance(copy, InvalidNationalId)
    assert (copy.reason, str(copy)) == ("check_digit_2", str(caught.value))


# --- Century of birth ---------------------------------------------------------------------

CENTURIES = [
    # individual number, two-digit year, century
    (0, 0, 1900),
    (499, 39, 1900),
    (499, 99, 1900),
    (500, 54, 1800),
    (749, 99, 1800),
    (500, 0, 2000),
    (749, 39, 2000),
    (999, 0, 2000),
    (999, 39, 2000),
    (900, 40, 1900),
    (999, 99, 1900),
    (950, 54, 1900),
    # Outside the 1964 table: the 1900s.
    (500, 40, 1900),
    (749, 53, 1900),
    (750, 54, 1900),
    (899, 40, 1900),
    (899, 99, 1900),
]


@pytest.mark.parametrize(("individual", "year", "century"), CENTURIES)
def test_birth_century_follows_the_table(individual: int, year: int, century: int) -> None:
    assert birth_century(individual, year) == century


@pytest.mark.parametrize(("individual", "year", "century"), CENTURIES)
def test_parsed_birth_year_follows_the_table(individual: int, year: int, century: int) -> None:
    value, day = valid_in_july(year, individual)
    assert parse_national_id(value).birth_date == dt.date(century + year, 7, day)


@pytest.mark.parametrize(("individual", "year"), [(-1, 50), (1000, 50), (100, -1), (100, 100)])
def test_birth_century_rejects_out_of_range_parts(individual: int, year: int) -> None:
    with pytest.raises(ValueError):
        birth_century(individual, year)


# --- The 2032 rule for the first check digit ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "remainder"),
    [
        ("15038010449", 0),
        ("15038010457", 1),
        ("15038010465", 2),
        ("15038010473", 3),
        ("30108299939", 1),  # Skatteetaten's example of a second id on the same date in 2032
    ],
)
def test_first_check_digit_accepts_remainders_0_to_3(value: str, remainder: int) -> None:
    assert sum(int(d) * w for d, w in zip(value, (*K1_WEIGHTS, 1), strict=False)) % 11 == remainder
    assert is_valid_national_id(value)


@pytest.mark.parametrize("remainder", range(4, 11))
def test_first_check_digit_rejects_remainders_4_to_10(remainder: int) -> None:
    value = next(
        made
        for number in range(100, 200)
        if (made := with_check_digits(f"150380{number:03d}", remainder)) is not None
    )
    with pytest.raises(InvalidNationalId) as caught:
        parse_national_id(value)
    assert caught.value.reason == "check_digit_1"


@pytest.mark.parametrize("nine", ["150380104", "010105501", "558380124", "301082999", "311299567"])
def test_exactly_the_ids_of_both_rules_are_accepted(nine: str) -> None:
    """Of the 100 possible endings of nine digits, accepted are those the two rules allow."""
    expected = {with_check_digits(nine, remainder) for remainder in range(4)} - {None}
    accepted = {
        nine + f"{end:02d}" for end in range(100) if is_valid_national_id(nine + f"{end:02d}")
    }
    assert accepted == expected


# --- Masking ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("15038012611", "150380 *****"),
        (" 150380 12611\n", "150380 *****"),
        ("55038012362", "550380 *****"),
        ("15838012334", "158380 *****"),
        ("15038012612", "150380 *****"),  # wrong check digit: still shown masked
    ],
)
def test_mask_shows_the_date_part_only(value: str, masked: str) -> None:
    assert mask_national_id(value) == masked
    assert value.strip()[-5:] not in mask_national_id(value)


@pytest.mark.parametrize(
    ("value", "reason"), [("1503801261", "length"), ("150380-12611", "not_digits")]
)
def test_mask_refuses_what_is_not_shaped_like_an_id(value: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as caught:
        mask_national_id(value)
    assert caught.value.reason == reason


# --- Synthetic ids for the demo registry ---------------------------------------------------

ROWS = 200_000


@pytest.fixture(scope="module")
def people() -> pl.DataFrame:
    rng = np.random.default_rng(2026)
    epoch = dt.date(1970, 1, 1)
    first, last = (dt.date(1854, 1, 1) - epoch).days, (dt.date(2039, 12, 31) - epoch).days
    return pl.DataFrame(
        {
            "birth_date": pl.Series(rng.integers(first, last + 1, ROWS)).cast(pl.Date),
            "sex": np.where(rng.random(ROWS) < 0.5, "female", "male"),
        }
    )


@pytest.fixture(scope="module")
def synthetic(people: pl.DataFrame) -> pl.Series:
    return synthetic_national_ids(people["birth_date"], people["sex"], seed=7)


def test_synthetic_ids_are_strings_one_per_row(people: pl.DataFrame, synthetic: pl.Series) -> None:
    assert synthetic.dtype == pl.String
    assert synthetic.len() == ROWS
    assert synthetic.null_count() == 0
    assert synthetic.str.contains(r"^[0-9]{11}$").all()


def test_synthetic_ids_are_unique(synthetic: pl.Series) -> None:
    assert synthetic.n_unique() == ROWS


def test_synthetic_ids_parse_to_their_row(people: pl.DataFrame, synthetic: pl.Series) -> None:
    parsed = [parse_national_id(value) for value in synthetic.to_list()]
    assert all(p.synthetic and p.kind == "fnr" for p in parsed)
    assert [p.birth_date for p in parsed] == people["birth_date"].to_list()
    assert [p.sex for p in parsed] == people["sex"].to_list()


def test_synthetic_ids_pass_the_classic_rule(synthetic: pl.Series) -> None:
    digits = np.array([list(map(int, value)) for value in synthetic.to_list()[:20_000]])
    assert not ((digits[:, :10] @ np.array((*K1_WEIGHTS, 1))) % 11).any()
    assert not ((digits @ np.array((*K2_WEIGHTS, 1))) % 11).any()


def test_synthetic_individual_numbers_match_century_and_sex(
    people: pl.DataFrame, synthetic: pl.Series
) -> None:
    frame = people.with_columns(
        individual=synthetic.str.slice(6, 3).cast(pl.Int64), year=pl.col("birth_date").dt.year()
    )
    year, individual = pl.col("year"), pl.col("individual")
    in_range = (
        pl.when(year <= 1899)
        .then(individual.is_between(500, 749))
        .when(year <= 1939)
        .then(individual <= 499)
        .when(year <= 1999)
        .then((individual <= 499) | (individual >= 900))
        .otherwise(individual >= 500)
    )
    parity = (individual % 2 == 0) == (pl.col("sex") == "female")
    assert frame.select(in_range.all().alias("range"), parity.all().alias("parity")).row(0) == (
        True,
        True,
    )


def test_synthetic_ids_are_deterministic_for_a_seed(
    people: pl.DataFrame, synthetic: pl.Series
) -> None:
    again = synthetic_national_ids(people["birth_date"], people["sex"], seed=7)
    assert again.equals(synthetic)


def test_another_seed_gives_other_ids(people: pl.DataFrame, synthetic: pl.Series) -> None:
    other = synthetic_national_ids(people["birth_date"], people["sex"], seed=8)
    assert sum((other != synthetic).to_list()) > 0.9 * ROWS


def capacity(date: dt.date, sex: str) -> int:
    """How many valid synthetic ids one birth date and sex allow, counted independently."""
    ranges = {
        1899: [(500, 749)],
        1939: [(0, 499)],
        1999: [(0, 499), (900, 999)],
        2039: [(500, 999)],
    }
    chosen = next(r for last, r in ranges.items() if date.year <= last)
    prefix = f"{date.day:02d}{date.month + 80:02d}{date.year % 100:02d}"
    parity = 0 if sex == "female" else 1
    return sum(
        with_check_digits(f"{prefix}{number:03d}") is not None
        for low, high in chosen
        for number in range(low, high + 1)
        if number % 2 == parity
    )


@pytest.mark.parametrize(
    ("date", "sex"),
    [
        (dt.date(1980, 3, 15), "female"),
        (dt.date(1880, 6, 1), "male"),
        (dt.date(2010, 2, 28), "male"),
    ],
)
def test_a_crowded_date_is_filled_to_capacity_then_refused(date: dt.date, sex: str) -> None:
    rows = capacity(date, sex)
    full = synthetic_national_ids(
        pl.Series([date] * rows, dtype=pl.Date), pl.Series([sex] * rows), seed=1
    )
    assert full.n_unique() == rows
    assert all(is_valid_national_id(value) for value in full.to_list())
    with pytest.raises(ValueError, match="unique"):
        synthetic_national_ids(
            pl.Series([date] * (rows + 1), dtype=pl.Date), pl.Series([sex] * (rows + 1)), seed=1
        )


def test_free_numbers_in_order_alone_also_give_unique_valid_ids(
    people: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path rows take when the random rounds leave them without a number."""
    monkeypatch.setattr(national_id, "_RANDOM_ROUNDS", 0)
    sample = people.head(20_000)
    ids = synthetic_national_ids(sample["birth_date"], sample["sex"], seed=7)
    assert ids.n_unique() == sample.height
    assert [parse_national_id(v).birth_date for v in ids.to_list()] == sample[
        "birth_date"
    ].to_list()


def test_no_rows_give_an_empty_string_series() -> None:
    empty = synthetic_national_ids(
        pl.Series([], dtype=pl.Date), pl.Series([], dtype=pl.String), seed=1
    )
    assert empty.dtype == pl.String
    assert empty.len() == 0


@pytest.mark.parametrize(
    ("dates", "sexes"),
    [
        (pl.Series([dt.date(1980, 1, 1)], dtype=pl.Date), pl.Series(["female", "male"])),
        (pl.Series([None], dtype=pl.Date), pl.Series(["female"])),
        (pl.Series([dt.date(1980, 1, 1)], dtype=pl.Date), pl.Series([None], dtype=pl.String)),
        (pl.Series([dt.date(1980, 1, 1)], dtype=pl.Date), pl.Series(["f"])),
        (pl.Series([dt.date(1853, 12, 31)], dtype=pl.Date), pl.Series(["male"])),
        (pl.Series([dt.date(2040, 1, 1)], dtype=pl.Date), pl.Series(["male"])),
        (pl.Series(["1980-01-01"]), pl.Series(["male"])),
    ],
)
def test_synthetic_ids_refuse_bad_inputs(dates: pl.Series, sexes: pl.Series) -> None:
    with pytest.raises(ValueError):
        synthetic_national_ids(dates, sexes, seed=1)
