"""The simplified modified Rankin Scale questionnaire (smRSq): mRS 0 to 5 from yes/no questions.

Bruno A, Shah N, Lin C, et al. Improving modified Rankin Scale assessment with a simplified
questionnaire. Stroke 2010;41:1048–1050; and Bruno A, Akinwuntan AE, Lin C, et al.
Simplified modified Rankin Scale questionnaire: reproducibility over the telephone and
validation with quality of life. Stroke 2011;42:2276–2279.

The questions form a decision tree from the most severe grade down; the first answer that
settles a grade ends it. The item names here are the tree's steps, not the published wording:

| step | question (in short) | answer that ends the tree |
|---|---|---|
| `constant_care` | bedridden or needing care and supervision all day and night? | yes → 5 |
| `walk_unaided` | able to walk without help from another person? | no → 4 |
| `own_affairs` | looks after own affairs (self-care, shopping, money) without help? | no → 3 |
| `usual_activities` | does all done before the stroke (work, hobbies, social life)? | no → 2 |
| `symptoms` | any symptoms or problems left from the stroke? | yes → 1, no → 0 |

Answers are 1 for yes and 0 for no. mRS 6 (dead) is never self-reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

STEPS: Final[tuple[tuple[str, int, int], ...]] = (
    ("constant_care", 1, 5),
    ("walk_unaided", 0, 4),
    ("own_affairs", 0, 3),
    ("usual_activities", 0, 2),
    ("symptoms", 1, 1),
)
"""(item, the answer that settles the grade, that grade), from the most severe down."""

ITEMS: Final = tuple(item for item, _, _ in STEPS)


def grade(answers: Mapping[str, int | None]) -> tuple[int | None, str | None]:
    """The mRS grade and None, or None and the first item the tree needs but has no answer
    for: a grade is never guessed past a missing answer."""
    for item, settling, result in STEPS:
        answer = answers.get(item)
        if answer is None:
            return None, item
        if answer == settling:
            return result, None
    return 0, None
