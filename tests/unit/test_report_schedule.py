"""When a subscribed report is due: Mondays or the 1st at 06:00 Norwegian time, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from data_access.report_subscriptions import SubscriptionError, next_due


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frequency", "after", "due"),
    [
        # Thursday 26 November 2026 (winter time, UTC+1): the next Monday 06:00 is 05:00 UTC.
        ("weekly", utc(2026, 11, 26, 10, 0), utc(2026, 11, 30, 5, 0)),
        # Monday itself, before 06:00 Oslo: the same morning.
        ("weekly", utc(2026, 11, 30, 4, 59), utc(2026, 11, 30, 5, 0)),
        # Exactly at the send time, or after it: the following Monday.
        ("weekly", utc(2026, 11, 30, 5, 0), utc(2026, 12, 7, 5, 0)),
        # Sunday 23:30 UTC is already Monday 00:30 in Oslo: due that same morning.
        ("weekly", utc(2026, 11, 29, 23, 30), utc(2026, 11, 30, 5, 0)),
        # Summer time (UTC+2): 06:00 Oslo is 04:00 UTC.
        ("weekly", utc(2026, 6, 17, 12, 0), utc(2026, 6, 22, 4, 0)),
        # Across the change to summer time (Sunday 29 March 2026).
        ("weekly", utc(2026, 3, 27, 12, 0), utc(2026, 3, 30, 4, 0)),
        ("monthly", utc(2026, 11, 26, 10, 0), utc(2026, 12, 1, 5, 0)),
        ("monthly", utc(2026, 12, 1, 5, 0), utc(2027, 1, 1, 5, 0)),
        ("monthly", utc(2026, 12, 1, 4, 59), utc(2026, 12, 1, 5, 0)),
        ("monthly", utc(2026, 3, 15, 0, 0), utc(2026, 4, 1, 4, 0)),
        # 31 January: the next 1st is February's, not March's.
        ("monthly", utc(2027, 1, 31, 12, 0), utc(2027, 2, 1, 5, 0)),
    ],
)
def test_next_due(frequency: str, after: datetime, due: datetime) -> None:
    assert next_due(frequency, after) == due


def test_an_unknown_frequency_is_refused() -> None:
    with pytest.raises(SubscriptionError):
        next_due("daily", utc(2026, 11, 26, 10, 0))
