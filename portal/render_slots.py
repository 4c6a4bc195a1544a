"""Pages are drawn a few at a time per worker, so that quick requests never wait behind many.

A worker serves its requests in threads that share one interpreter (`gunicorn.conf.py`).
Drawing a page is Python from start to end (a My unit page 0.1-0.3 s, a public page
25-40 ms, a drill-down list 50 ms at a million registrations), while a form save or a
page served from the cache mostly waits on the database or Redis and needs the interpreter
only briefly, each time it comes back. With every thread drawing at once, each of those
brief turns waited behind all the drawing threads, and the machine's two cores were shared
by every one of them: under the load benchmark's 32 clients, a save's p95 was 540 ms.

So a worker draws at most `RENDER_SLOTS` pages at a time (default 1); a request to draw
another waits for a slot before it starts, holding nothing. Drawing is what Dash's page
router does (a page's layout, unless the page cache answered first) and the drill-down's
list; a page drawn anew after its answer (the page cache's replay) takes a slot like any
other. Everything else (saves, cached pages, the API, assets) never waits for one. A
page takes no longer to draw once begun, but may begin later in a busy moment: the price
of the others' speed, though under the load benchmark even the logged-in pages' median
fell (507 to 421 ms), as fewer drawings shared the interpreter at once. A reader who waits
for new results (`RESULTS_WAIT_MS`) holds the slot while waiting.
"""

from __future__ import annotations

import threading
from typing import Final

import flask

from portal.auth.guard import DASH_UPDATE_ENDPOINT
from portal.components import my_unit_records

DRAWING_OUTPUTS: Final = ("_pages_content.children", f"{my_unit_records.TABLE}.children")
"""Callbacks that draw: Dash's page router, and the drill-down's list of records."""
_HELD = "render_slot_held"  # in flask.g


class _Slots:
    def __init__(self) -> None:
        self.semaphore = threading.BoundedSemaphore(1)
        self.count = 1

    def resize(self, count: int) -> None:
        """The worker's slots; set once, as the application is made."""
        if count != self.count:
            self.semaphore, self.count = threading.BoundedSemaphore(count), count


_SLOTS = _Slots()


def init_app(server: flask.Flask, slots: int) -> None:
    """Call after the page cache's hook: a page it serves takes no slot."""
    _SLOTS.resize(slots)
    server.before_request(_take_slot)
    server.teardown_request(_give_back)


def draws(body: object) -> bool:
    """A callback request that draws a page or the drill-down list."""
    output = body.get("output") if isinstance(body, dict) else None
    return isinstance(output, str) and any(name in output for name in DRAWING_OUTPUTS)


def _take_slot() -> None:
    request = flask.request
    if request.path != DASH_UPDATE_ENDPOINT or request.method != "POST":
        return
    if draws(request.get_json(silent=True)):
        semaphore = _SLOTS.semaphore
        semaphore.acquire()
        setattr(flask.g, _HELD, semaphore)


def _give_back(_error: BaseException | None) -> None:
    semaphore: threading.BoundedSemaphore | None = flask.g.pop(_HELD, None)
    if semaphore is not None:
        semaphore.release()
