"""Lower the priority of threads that draw pages or compute results, so quick requests run first.

Linux gives each thread its own `nice`; a thread may always be made nicer, but without
privileges never less nice again, so only threads that do nothing else are lowered: a
worker's drawing threads (`portal/render_slots.py`), the results refresh
(`portal/results_cache.py`) and polars' pool, which does the work of both (a form save
never asks polars for anything). Elsewhere threads keep the process's priority.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Final

import polars as pl

POLARS_THREAD: Final = re.compile(r"polars-\d+")
"""The names of polars' pool threads (its other threads, such as `polars-ooc-clea`, do no
work for queries)."""
_STARTING_SECONDS: Final = 2.0

log = logging.getLogger(__name__)


def lower_priority(steps: int, thread: int | None = None) -> None:
    """Make a thread (the calling one unless `thread`, a native id, is given) `steps` nicer
    than it is, at most 19."""
    if steps <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id() if thread is None else thread
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + steps))
    except OSError as error:  # a sandbox that forbids it: the work is only less favoured
        log.warning("thread %s keeps its priority: %s", thread, error)


def lower_polars_threads(steps: int) -> int:
    """Lower polars' pool threads of this process (started here if need be); their count."""
    if steps <= 0 or not sys.platform.startswith("linux"):
        return 0
    wanted = pl.thread_pool_size()  # starts the pool; its threads name themselves soon after
    deadline = time.monotonic() + _STARTING_SECONDS
    found = _polars_threads()
    while len(found) < wanted and time.monotonic() < deadline:
        time.sleep(0.01)
        found = _polars_threads()
    for thread in found:
        lower_priority(steps, thread)
    return len(found)


def _polars_threads() -> list[int]:
    threads = []
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
        except OSError:  # the thread ended meanwhile
            continue
        if POLARS_THREAD.fullmatch(name):
            threads.append(int(task.name))
    return threads
