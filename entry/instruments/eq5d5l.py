"""EQ-5D-5L: five dimensions of health, each answered on five levels, and a value set.

A value set turns a health state (the five levels, such as 21345) into one index: 1 for full
health (11111), lower for worse states, below 0 for states valued as worse than dead. The
Norwegian value set is additive: the index is 1 minus one decrement per dimension for its
level, and level 1 subtracts nothing.

Norwegian value set: Garratt AM, et al. A Norwegian value set for the EQ-5D-5L. Quality of
Life Research 2024 (composite time trade-off and discrete choice, Norwegian adult general
population). The decrements below are the published main model; check them against the
paper's table before a new release, since a typo here shifts every index.

Missing answers: following EuroQol's guidance, no index is computed when any of the five
dimensions is unanswered or ambiguous; the state is not imputed.

EQ-5D is a trademark of the EuroQol Research Foundation; the questionnaire itself is licensed
by EuroQol. Registries must use the official, licensed Norwegian wording; the demo's
questionnaire paraphrases the levels (see registries/stroke/questionnaires.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

DIMENSIONS: Final = ("mobility", "selfcare", "activities", "pain", "anxiety")
"""The five dimensions in the instrument's order: mobility, self-care, usual activities,
pain/discomfort, anxiety/depression."""

LEVELS: Final = (1, 2, 3, 4, 5)

NORWAY_2024: Final[Mapping[str, tuple[float, float, float, float, float]]] = {
    "mobility": (0.0, 0.03116, 0.064985, 0.158875, 0.205),
    "selfcare": (0.0, 0.031312, 0.065302, 0.15965, 0.206),
    "activities": (0.0, 0.027208, 0.056743, 0.138725, 0.179),
    "pain": (0.0, 0.059432, 0.123947, 0.303025, 0.391),
    "anxiety": (0.0, 0.071744, 0.149624, 0.3658, 0.472),
}
"""Decrements by dimension for levels 1 to 5 (Garratt et al. 2024)."""


def additive_index(levels: Mapping[str, int], decrements: Mapping[str, tuple[float, ...]]) -> float:
    """1 minus the decrement of each dimension's level, rounded to the value set's 6 decimals
    (so 11111 is exactly 1 and sums carry no floating-point dust)."""
    return round(1.0 - sum(decrements[d][levels[d] - 1] for d in DIMENSIONS), 6)


def health_state(levels: Mapping[str, int]) -> str:
    """The five-digit profile, such as "21345", in the instrument's order."""
    return "".join(str(levels[d]) for d in DIMENSIONS)
