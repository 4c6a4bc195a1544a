"""When a reader waits for a results refresh: only for one that should end within the wait."""

from __future__ import annotations

import pytest

from portal.results_cache import Computation, wait_worthwhile

LIMIT = 0.5


def _last(seconds: float) -> Computation:
    return Computation(seconds, 0.0)


@pytest.mark.parametrize(
    ("last", "running", "worthwhile"),
    [
        (None, 0.0, True),  # a registry's first computation: a small one is quick
        (_last(0.1), 0.0, True),  # a small registry: the change shows on the next page
        (_last(0.5), 0.0, True),  # ends just as the wait does
        (_last(2.0), 0.1, False),  # early in a long computation: the wait would be in vain
        (_last(2.0), 1.4, False),
        (_last(2.0), 1.6, True),  # its last half second
        (_last(2.0), 2.4, True),  # a little slower than the last
        (_last(2.0), 3.0, False),  # far slower: it may go on for seconds more
    ],
)
def test_a_reader_waits_only_where_the_computation_should_end_within_the_wait(
    last: Computation | None, running: float, worthwhile: bool
) -> None:
    assert wait_worthwhile(LIMIT, last, running) is worthwhile


def test_no_wait_at_all_when_waiting_is_switched_off() -> None:
    assert not wait_worthwhile(0.0, None, 0.0)
    assert not wait_worthwhile(0.0, _last(0.01), 0.0)
