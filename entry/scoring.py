"""Scores of questionnaire instruments: one entry point, versioned pure rules behind it.

`score("eq5d5l", answers, version="NO-2024")` gives the EQ-5D-5L index by the Norwegian
value set; `score("mrs_simplified", answers, version="bruno-2010")` the modified Rankin
grade. Each (instrument, version) names one fixed rule, so a stored score can always be
traced to the rule and value set that made it, and a new value set is a new version beside
the old, never a silent change. The rules live in `entry.instruments`; nothing here knows a
registry. Answers are keyed by the instrument's item names (`mobility`, `walk_unaided`);
a questionnaire maps its own variables onto them (`entry.questionnaires`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from entry.instruments import eq5d5l, mrs_simplified

Value = float | int


@dataclass(frozen=True)
class Score:
    """One instrument's score: None when answers it needs are missing (listed in `missing`)."""

    instrument: str
    version: str
    value: Value | None
    value_set: str | None
    """The value set the index comes from (EQ-5D), None where the score needs none (mRS)."""
    missing: tuple[str, ...] = ()


class ScoringError(ValueError):
    """An unknown instrument or version, or an answer the instrument does not allow."""


@dataclass(frozen=True)
class Scorer:
    """One versioned rule: its items, the answer codes they take, and the computation over
    answers that are either an allowed code or None (missing)."""

    items: tuple[str, ...]
    codes: frozenset[int]
    value_set: str | None
    compute: Callable[[Mapping[str, int | None]], tuple[Value | None, tuple[str, ...]]]


def _eq5d5l_norway_2024(
    answers: Mapping[str, int | None],
) -> tuple[Value | None, tuple[str, ...]]:
    missing = tuple(d for d in eq5d5l.DIMENSIONS if answers.get(d) is None)
    if missing:  # EuroQol: no index from an incomplete state
        return None, missing
    levels = {d: int(answers[d] or 0) for d in eq5d5l.DIMENSIONS}
    return eq5d5l.additive_index(levels, eq5d5l.NORWAY_2024), ()


def _mrs_bruno_2010(answers: Mapping[str, int | None]) -> tuple[Value | None, tuple[str, ...]]:
    grade, missing = mrs_simplified.grade(answers)
    return grade, (missing,) if missing else ()


SCORERS: Mapping[tuple[str, str], Scorer] = {
    ("eq5d5l", "NO-2024"): Scorer(
        eq5d5l.DIMENSIONS,
        frozenset(eq5d5l.LEVELS),
        "Norway, Garratt et al. 2024",
        _eq5d5l_norway_2024,
    ),
    ("mrs_simplified", "bruno-2010"): Scorer(
        mrs_simplified.ITEMS, frozenset({0, 1}), None, _mrs_bruno_2010
    ),
}
"""Every rule this installation can score, by (instrument, version)."""


def scorer(instrument: str, version: str) -> Scorer:
    """The rule for (instrument, version); `ScoringError` lists the known ones otherwise."""
    try:
        return SCORERS[(instrument, version)]
    except KeyError:
        known = ", ".join(f"{i} {v}" for i, v in sorted(SCORERS))
        raise ScoringError(
            f"no scoring rule for instrument {instrument!r} version {version!r}; known: {known}"
        ) from None


def score(instrument: str, answers: Mapping[str, object], *, version: str) -> Score:
    """Score one response. Blank answers (None, "") count as missing; an answer naming no
    item of the instrument, or outside its codes, raises `ScoringError`."""
    rule = scorer(instrument, version)
    unknown = sorted(set(answers) - set(rule.items))
    if unknown:
        raise ScoringError(f"{instrument} {version}: unknown item(s) {', '.join(unknown)}")
    codes = {item: _code(instrument, item, answers.get(item), rule.codes) for item in rule.items}
    value, missing = rule.compute(codes)
    return Score(instrument, version, value, rule.value_set, missing)


def _code(instrument: str, item: str, raw: object, allowed: frozenset[int]) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    code: int | None = None
    if isinstance(raw, bool):
        code = int(raw)
    elif isinstance(raw, int):
        code = raw
    elif isinstance(raw, float) and raw.is_integer():
        code = int(raw)
    elif isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        code = int(raw.strip())
    if code is None or code not in allowed:
        wanted = ", ".join(map(str, sorted(allowed)))
        raise ScoringError(f"{instrument}: {item} is {raw!r}, not one of {wanted}")
    return code
