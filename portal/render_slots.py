"""Pages are drawn apart from quick requests: a few at a time per worker, at lower priority.

A worker serves its requests in threads that share one interpreter (`gunicorn.conf.py`),
and all workers share the machine's cores. Drawing a page is Python from start to end (a
My unit page 0.1-0.3 s, a public page 25-40 ms, a drill-down list 50 ms at a million
registrations), while a form save or a page served from the cache mostly waits on the
database or Redis and needs a core only briefly, each time it comes back. With every
thread drawing at once, each of those brief turns waited behind all the drawing threads:
under the load benchmark's 32 clients, a save's p95 was 540 ms.

So a worker draws in `RENDER_SLOTS` threads of its own (default 1), and a request to draw
waits for one of them, holding nothing. Drawing is what Dash's page router does (a page's
layout, unless the page cache answered first) and the drill-down's list; a page drawn anew
after its answer (the page cache's replay) is drawn there like any other. Everything else
(saves, cached pages, the API, assets) runs in the request's own thread and never waits.

The drawing threads run `RENDER_NICE` steps nicer than the worker (Linux's per-thread
`nice`; default 10, 0 turns it off), so when the cores are busy the operating system runs
the quick requests of every worker first, and drawing takes what is left. A page takes no
longer to draw on an idle machine, only when others are waiting for a core. Threads can
always be made nicer but, without privileges, never less nice again: that is why drawing
has threads of its own rather than lowering the request's thread for a while. In paired
runs of the load benchmark at 1,000,000 registrations, a save's p95 was 84 and 72 ms at 20
requests/s against 177 and 108 ms with `RENDER_NICE=0`, and 400 and 360 ms against 535 and
407 ms with 32 clients always waiting; My unit pages took longer at the tail.

A reader who waits for new results (`RESULTS_WAIT_MS`) holds a drawing thread while
waiting. The view runs in the drawing thread in a copy of the request's context (flask's
request and `g`, the request id of the log lines), while the request's own thread waits.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import flask

from portal.auth.guard import DASH_UPDATE_ENDPOINT
from portal.components import my_unit_records
from portal.thread_priority import lower_priority

DRAWING_OUTPUTS: Final = ("_pages_content.children", f"{my_unit_records.TABLE}.children")
"""Callbacks that draw: Dash's page router, and the drill-down's list of records."""
EXTENSION: Final = "render_slots"


def init_app(server: flask.Flask, slots: int, nice: int) -> None:
    """Call once Dash has set up its routes: its callback view is wrapped."""
    drawing = ThreadPoolExecutor(
        max_workers=slots,
        thread_name_prefix="drawing",
        initializer=lower_priority,
        initargs=(nice,),
    )
    server.extensions[EXTENSION] = drawing
    view = server.view_functions[DASH_UPDATE_ENDPOINT]
    server.view_functions[DASH_UPDATE_ENDPOINT] = _drawn_apart(view, drawing)


def drawing_threads(server: flask.Flask) -> ThreadPoolExecutor:
    value: ThreadPoolExecutor = server.extensions[EXTENSION]
    return value


def draws(body: object) -> bool:
    """A callback request that draws a page or the drill-down list."""
    output = body.get("output") if isinstance(body, dict) else None
    return isinstance(output, str) and any(name in output for name in DRAWING_OUTPUTS)


def _drawn_apart(view: Callable[..., Any], drawing: ThreadPoolExecutor) -> Callable[..., Any]:
    @functools.wraps(view)
    def dispatch(*args: Any, **kwargs: Any) -> Any:
        if not draws(flask.request.get_json(silent=True)):
            return view(*args, **kwargs)
        context = contextvars.copy_context()
        return drawing.submit(context.run, view, *args, **kwargs).result()

    return dispatch
