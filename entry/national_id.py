"""Norwegian national identity numbers (fødselsnummer, D-nummer, H-nummer): checked at entry.

Patients are identified by national id (see DESIGN.md, "Who may do what"). Every door a
record comes in by (forms, importers, the API) checks the id here, so one set of rules
decides what a valid id is, and the error says which rule failed without repeating the id
(error messages end up in logs; the id must not).

The rules, and where they come from:

- Layout DDMMYY III K1 K2: birth date, a three-digit individual number (individnummer) and
  two check digits (forskrift om folkeregistrering § 2-2; Skatteetaten, "Nytt fødselsnummer
  fra 2032", skatteetaten.github.io/folkeregisteret-api-dokumentasjon/nytt-fodselsnummer-fra-2032/).
- D-number: 4 added to the first digit (day + 40). H-number (hjelpenummer, given by health
  services to a patient whose id is unknown, KITH report 11/98): 4 added to the third digit
  (month + 40). Synthetic test ids of Skatteetaten's test population (Tenor, "Test-Norge"):
  8 added to the third digit (month + 80), also on D-numbers; Skatteetaten's reference
  validator reads such a date as dd8Myy/dd9Myy.
- Century from the individual number and the year (forskrift § 2-2, Skatteetaten): 000-499
  born 1900-1999; 500-749 with year 54-99 born 1854-1899; 500-999 with year 00-39 born
  2000-2039; 900-999 with year 40-99 born 1940-1999.
- Second check digit: weights 5 4 3 2 7 6 5 4 3 2 1 over all eleven digits, sum mod 11 = 0.
- First check digit: weights 3 7 6 1 8 9 4 5 2 1 over the first ten digits. Until 2031 the sum
  mod 11 must be 0. For ids issued from 1 January 2032 Skatteetaten accepts a remainder of
  0, 1, 2 or 3 (k1 = {11, 12, 13, 14} - weighted sum mod 11, so k1 may take four values), and
  systems must read both rules side by side. The two rules agree on every id issued so far,
  so this module applies the 2032 rule to all ids: an id issued in 2032 is accepted now.

Two consequences the sources spell out, which callers must respect:

- From 2032 ids are sex-neutral and the individual number no longer tells the century, and
  since 2021 D-numbers are drawn from widened series (Skatteetaten news 2021-06-24,
  "Utvidelse av D-nummerserien": 600-999 for births 1940-1999, 200-999 for 2000-2039). So
  `birth_date` and `sex` are what the 1964 scheme encodes, a best reading, not a fact: the
  registry takes birth date and sex from the record, never from the id.
- For the same reason an individual number outside the 1964 table (500-749 with year 40-53,
  750-899 with year 40-99) is not an error: such ids are issued today as D-numbers and from
  2032 as ordinary numbers. They are read as born in the 1900s, the only century possible for
  a living person with such a year.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

Ints = npt.NDArray[np.int64]

NationalIdKind = Literal["fnr", "dnumber", "hnumber"]
Sex = Literal["female", "male"]
InvalidReason = Literal["length", "not_digits", "date", "check_digit_1", "check_digit_2"]

_DIGITS: Final = frozenset("0123456789")
_K1_WEIGHTS: Final = (3, 7, 6, 1, 8, 9, 4, 5, 2, 1)
_K2_WEIGHTS: Final = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
# Remainders of the first check sum Skatteetaten accepts for ids issued from 2032; 0 alone
# before. Accepting all four now keeps the validator right on the day the rule changes.
_K1_REMAINDERS: Final = frozenset({0, 1, 2, 3})
_D_NUMBER_DAY: Final = 40
_H_NUMBER_MONTH: Final = 40
_SYNTHETIC_MONTH: Final = 80


class InvalidNationalId(ValueError):  # noqa: N818 - the name callers and the brief use
    """A value is not a national id; `reason` names the rule that failed, for code and tests.

    The message explains the rule in plain English and never contains the value or any part
    of it: messages end up in logs.
    """

    def __init__(self, reason: InvalidReason, message: str) -> None:
        super().__init__(message)
        self.reason: InvalidReason = reason

    def __reduce__(self) -> tuple[type[InvalidNationalId], tuple[InvalidReason, str]]:
        # Keeps the exception picklable (worker processes) despite the two-argument init.
        return (type(self), (self.reason, str(self)))


@dataclass(frozen=True)
class NationalId:
    """A parsed national id.

    `digits` is the canonical form (11 digits, no space), the only form that is stored,
    encrypted and hashed. `birth_date` and `sex` are what the number encodes under the 1964
    scheme; ids issued from 2032 are sex-neutral and need not tell the century, so they are
    hints, never the record's birth date or sex.
    """

    digits: str
    kind: NationalIdKind
    synthetic: bool
    birth_date: dt.date
    sex: Sex


def parse_national_id(value: str) -> NationalId:
    """Check `value` against every rule and return what it encodes.

    Accepts surrounding whitespace and one space between the six date digits and the five
    personal digits ("150380 12345"), the two ways people write an id; nothing else, so a
    typo is never silently turned into someone else's id.

    Raises `InvalidNationalId` with `reason` one of "length", "not_digits", "date",
    "check_digit_1", "check_digit_2".
    """
    digits = _canonical_digits(value)
    day, is_dnumber = _decode_day(int(digits[0:2]))
    month, is_hnumber, synthetic = _decode_month(int(digits[2:4]))
    if is_dnumber and is_hnumber:
        raise InvalidNationalId(
            "date",
            "A national id cannot be both a D-number (day + 40) and an H-number (month + 40).",
        )
    two_digit_year = int(digits[4:6])
    year = birth_century(int(digits[6:9]), two_digit_year) + two_digit_year
    try:
        birth_date = dt.date(year, month, day)
    except ValueError:
        raise InvalidNationalId(
            "date",
            "The first six digits are not a calendar date "
            "(such as 31 April, or 29 February outside a leap year).",
        ) from None
    if _weighted_sum(digits, _K1_WEIGHTS) % 11 not in _K1_REMAINDERS:
        raise InvalidNationalId(
            "check_digit_1", "The first check digit (digit 10) does not match the others."
        )
    if _weighted_sum(digits, _K2_WEIGHTS) % 11 != 0:
        raise InvalidNationalId(
            "check_digit_2", "The second check digit (digit 11) does not match the others."
        )
    kind: NationalIdKind = "dnumber" if is_dnumber else "hnumber" if is_hnumber else "fnr"
    sex: Sex = "female" if int(digits[8]) % 2 == 0 else "male"
    return NationalId(digits=digits, kind=kind, synthetic=synthetic, birth_date=birth_date, sex=sex)


def is_valid_national_id(value: str) -> bool:
    """True when `parse_national_id` accepts `value`; for filters and quick checks."""
    try:
        parse_national_id(value)
    except InvalidNationalId:
        return False
    return True


def mask_national_id(value: str) -> str:
    """The id as it may be shown: the birth-date part, the personal number hidden ("150380 *****").

    Only the layout is checked, not the dates or check digits: a record kept from before a
    rule changed must still be displayable, and masking never shows more than the date part.
    """
    return f"{_canonical_digits(value)[:6]} *****"


def birth_century(individual_number: int, two_digit_year: int) -> int:
    """The century (1800, 1900 or 2000) an individual number and a two-digit year point to.

    Follows the official table; combinations outside it (possible for D-numbers since 2021
    and for all ids issued from 2032) are read as the 1900s, the only century a living
    person with a year of 40-99 can be born in.
    """
    if not 0 <= individual_number <= 999 or not 0 <= two_digit_year <= 99:
        raise ValueError("individual_number must be 0-999 and two_digit_year 0-99")
    if individual_number <= 499:
        return 1900
    if two_digit_year <= 39:
        return 2000
    if individual_number <= 749 and two_digit_year >= 54:
        return 1800
    return 1900


def _canonical_digits(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a national id is given as text, not {type(value).__name__}")
    text = value.strip()
    if text[6:7] == " ":
        text = text[:6] + text[7:]
    if not set(text) <= _DIGITS:
        raise InvalidNationalId(
            "not_digits",
            "A national id is 11 digits, optionally with one space after the sixth; "
            "it contains another character.",
        )
    if len(text) != 11:
        raise InvalidNationalId("length", f"A national id has 11 digits, not {len(text)}.")
    return text


def _decode_day(field: int) -> tuple[int, bool]:
    if 1 <= field <= 31:
        return field, False
    if 1 <= field - _D_NUMBER_DAY <= 31:
        return field - _D_NUMBER_DAY, True
    raise InvalidNationalId(
        "date",
        "The first two digits are neither a day (01-31) nor a D-number day (41-71).",
    )


def _decode_month(field: int) -> tuple[int, bool, bool]:
    """The calendar month, whether it marks an H-number, and whether it marks a synthetic id."""
    if 1 <= field <= 12:
        return field, False, False
    if 1 <= field - _H_NUMBER_MONTH <= 12:
        return field - _H_NUMBER_MONTH, True, False
    if 1 <= field - _SYNTHETIC_MONTH <= 12:
        return field - _SYNTHETIC_MONTH, False, True
    raise InvalidNationalId(
        "date",
        "The third and fourth digits are neither a month (01-12), an H-number month (41-52) "
        "nor a synthetic month (81-92).",
    )


def _weighted_sum(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(digit) * weight for digit, weight in zip(digits, weights, strict=False))


# --- Synthetic ids for the demo registry -------------------------------------------------

# Individual numbers the 1964 table allows for each birth century, from the oldest.
_CENTURY_CLASSES: Final = (
    (1854, 1899, ((500, 749),)),
    (1900, 1939, ((0, 499),)),
    (1940, 1999, ((0, 499), (900, 999))),
    (2000, 2039, ((500, 999),)),
)
_SLOTS_PER_CLASS: Final = 300  # the widest class, 1940-1999, has 300 numbers per sex
_RANDOM_ROUNDS: Final = 16


def synthetic_national_ids(birth_dates: pl.Series, sexes: pl.Series, seed: int) -> pl.Series:
    """Unique, valid synthetic fødselsnummer (month + 80) for the demo data generator.

    Each id encodes its row's birth date, an individual number from the century range of the
    birth year and with the parity of the row's sex (even for "female"), and check digits under
    the classic rule, so validators of both check-digit rules accept it; month + 80 marks it
    as synthetic, so it can never be a real person's id. The same inputs and seed give the same
    ids; another seed gives others.

    Vectorised: rows draw random individual numbers in a few rounds, a draw being kept when
    its check digits exist and no other row holds it; rows still without a number after
    those rounds take the free numbers of their date in order. Raises `ValueError` when more
    rows share a birth date and sex than there are valid numbers for them, or when the
    inputs are not dates from 1854 to 2039 and "female"/"male" without nulls.
    """
    day, month, year, male = _checked_inputs(birth_dates, sexes)
    n = year.size
    if n == 0:
        return pl.Series("national_id", [], dtype=pl.String)

    slots, slot_counts = _slot_table()
    last_years = np.array([last for _, last, _ in _CENTURY_CLASSES[:-1]])
    century_class = np.searchsorted(last_years, year, side="left")
    row_slot_count = slot_counts[century_class, male]
    yy = year % 100
    month_field = month + _SYNTHETIC_MONTH
    base1 = 3 * (day // 10) + 7 * (day % 10) + 6 * (month_field // 10) + month_field % 10
    base1 += 8 * (yy // 10) + 9 * (yy % 10)
    base2 = 5 * (day // 10) + 4 * (day % 10) + 3 * (month_field // 10) + 2 * (month_field % 10)
    base2 += 7 * (yy // 10) + 6 * (yy % 10)

    # A group is one birth date and sex; a slot is one of the group's allowed numbers.
    day_number = birth_dates.cast(pl.Int32).to_numpy()
    _, date_index = np.unique(day_number, return_inverse=True)
    group = date_index.astype(np.int64) * 2 + male
    group_sizes = np.bincount(group)
    capacity = np.zeros(group_sizes.size, dtype=np.int64)
    capacity[group] = row_slot_count
    crowded = np.flatnonzero(group_sizes > capacity)
    if crowded.size:
        _raise_crowded(group, int(crowded[0]), group_sizes, birth_dates, sexes)

    used = np.zeros((group_sizes.size, _SLOTS_PER_CLASS), dtype=bool)
    individual = np.zeros(n, dtype=np.int64)
    pending = np.arange(n)
    rng = np.random.default_rng(seed)
    for _ in range(_RANDOM_ROUNDS):
        if pending.size == 0:
            break
        slot = rng.integers(0, row_slot_count[pending])
        number = slots[century_class[pending], male[pending], slot]
        _, _, valid = _check_digits(base1[pending], base2[pending], number)
        valid &= ~used[group[pending], slot]
        candidates = np.flatnonzero(valid)
        key = group[pending[candidates]] * _SLOTS_PER_CLASS + slot[candidates]
        _, first = np.unique(key, return_index=True)
        taken = candidates[first]
        used[group[pending[taken]], slot[taken]] = True
        individual[pending[taken]] = number[taken]
        still = np.ones(pending.size, dtype=bool)
        still[taken] = False
        pending = pending[still]
    if pending.size:
        individual[pending] = _fill_in_order(
            pending, group, century_class, male, base1, base2, used, birth_dates, sexes
        )

    k1, k2, _ = _check_digits(base1, base2, individual)
    value = day * 10**9 + month_field * 10**7 + yy * 10**5 + individual * 100 + k1 * 10 + k2
    return pl.Series("national_id", value, dtype=pl.Int64).cast(pl.String).str.zfill(11)


def _checked_inputs(birth_dates: pl.Series, sexes: pl.Series) -> tuple[Ints, Ints, Ints, Ints]:
    if birth_dates.dtype != pl.Date:
        raise ValueError(f"birth_dates must be a Date series, not {birth_dates.dtype}")
    if len(birth_dates) != len(sexes):
        raise ValueError(f"birth_dates has {len(birth_dates)} rows but sexes has {len(sexes)}")
    if birth_dates.null_count() or sexes.null_count():
        raise ValueError("birth_dates and sexes must not contain nulls")
    if not sexes.is_in(["female", "male"]).all():
        raise ValueError('sexes must be "female" or "male"')
    year = birth_dates.dt.year().to_numpy().astype(np.int64)
    if year.size and (year.min() < 1854 or year.max() > 2039):
        raise ValueError("fødselsnummer exist for birth years 1854 to 2039 only")
    day = birth_dates.dt.day().to_numpy().astype(np.int64)
    month = birth_dates.dt.month().to_numpy().astype(np.int64)
    male = (sexes == "male").to_numpy().astype(np.int64)
    return day, month, year, male


def _slot_table() -> tuple[Ints, Ints]:
    """Allowed individual numbers by century class and sex (0 female, 1 male), and their count."""
    slots = np.zeros((len(_CENTURY_CLASSES), 2, _SLOTS_PER_CLASS), dtype=np.int64)
    counts = np.zeros((len(_CENTURY_CLASSES), 2), dtype=np.int64)
    for index, (_, _, ranges) in enumerate(_CENTURY_CLASSES):
        numbers = np.concatenate([np.arange(low, high + 1) for low, high in ranges])
        for sex in (0, 1):
            chosen = numbers[numbers % 2 == sex]
            slots[index, sex, : chosen.size] = chosen
            counts[index, sex] = chosen.size
    return slots, counts


def _check_digits(
    base1: Ints, base2: Ints, individual: Ints
) -> tuple[Ints, Ints, npt.NDArray[np.bool_]]:
    """Classic check digits for date sums and individual numbers, and whether both exist."""
    i1, i2, i3 = individual // 100, individual // 10 % 10, individual % 10
    k1 = -(base1 + 4 * i1 + 5 * i2 + 2 * i3) % 11
    k2 = -(base2 + 5 * i1 + 4 * i2 + 3 * i3 + 2 * k1) % 11
    return k1, k2, (k1 != 10) & (k2 != 10)


def _fill_in_order(
    pending: Ints,
    group: Ints,
    century_class: Ints,
    male: Ints,
    base1: Ints,
    base2: Ints,
    used: npt.NDArray[np.bool_],
    birth_dates: pl.Series,
    sexes: pl.Series,
) -> Ints:
    """Numbers for the rows the random rounds left: their group's free numbers, in order."""
    slots, slot_counts = _slot_table()
    groups, first, inverse = np.unique(group[pending], return_index=True, return_inverse=True)
    sample = pending[first]  # one row per group stands for its date and sex
    numbers = slots[century_class[sample], male[sample]]
    _, _, free = _check_digits(base1[sample, None], base2[sample, None], numbers)
    free &= np.arange(_SLOTS_PER_CLASS) < slot_counts[century_class[sample], male[sample]][:, None]
    free &= ~used[groups]
    free_count = free.sum(axis=1)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(groups.size))
    rank = np.empty(pending.size, dtype=np.int64)
    rank[order] = np.arange(pending.size) - starts[inverse[order]]
    short = np.flatnonzero(rank >= free_count[inverse])
    if short.size:
        sizes = np.bincount(group)
        _raise_crowded(group, int(group[pending[short[0]]]), sizes, birth_dates, sexes)
    _, free_slot = np.nonzero(free)  # row-major: each group's free slots in order
    offsets = np.concatenate(([0], np.cumsum(free_count)[:-1]))
    return numbers[inverse, free_slot[offsets[inverse] + rank]]


def _raise_crowded(
    group: Ints,
    crowded_group: int,
    group_sizes: Ints,
    birth_dates: pl.Series,
    sexes: pl.Series,
) -> None:
    row = int(np.flatnonzero(group == crowded_group)[0])
    raise ValueError(
        f"cannot make {int(group_sizes[crowded_group])} unique synthetic ids for "
        f"{sexes[row]} patients born {birth_dates[row]}: too few valid individual numbers"
    )
