"""A worker draws pages in a thread of its own at lower priority (portal/render_slots.py);
nothing else waits for it."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import flask
import pytest

from portal import page_cache, render_slots
from portal.settings import Settings, SettingsError
from tests.conftest import callback_headers, page_router_body, render_page

WAIT_SECONDS = 0.5
"""Long enough for the test client to have drawn a page, had it not waited for the thread."""


@pytest.mark.parametrize(
    ("output", "drawn"),
    [
        ("..._pages_content.children..._pages_store.data...", True),
        ("..drill-down-table-region.children...drill-down-status.children..", True),
        ("..rf-status.children...rf-summary.children..", False),
        ("my-unit-location.href", False),
    ],
)
def test_the_page_router_and_the_drill_down_list_draw(output: str, drawn: bool) -> None:
    assert render_slots.draws({"output": output}) is drawn


@pytest.mark.parametrize("body", [None, [], {"output": 3}, {}])
def test_a_malformed_callback_request_draws_nothing(body: object) -> None:
    assert not render_slots.draws(body)


def test_a_page_waits_for_a_drawing_thread_while_other_requests_do_not(
    sqlite_app: flask.Flask,
) -> None:
    page_cache.clear(sqlite_app)  # a kept page is served without drawing
    waiting = sqlite_app.test_client()
    callback_headers(waiting)  # its CSRF cookie, fetched before the thread is taken
    other = sqlite_app.test_client()
    gate = threading.Event()
    drawing = render_slots.drawing_threads(sqlite_app)
    busy = drawing.submit(gate.wait, 60)  # the worker's one drawing thread, as a page holds it
    drawn = threading.Event()
    pages: list[str] = []

    def draw() -> None:
        pages.append(render_page(waiting, "/methods", "?lang=en"))
        drawn.set()

    thread = threading.Thread(target=draw)
    thread.start()
    try:
        assert not drawn.wait(WAIT_SECONDS), "the page was drawn outside the drawing thread"
        assert other.get("/healthz").status_code == 200
        assert other.get("/api/v1/registries").status_code == 200
        answer = other.post(
            "/_dash-update-component",
            json={**page_router_body("/methods", ""), "output": "not-a-drawing.children"},
            headers=callback_headers(other),
        )
        assert answer.status_code == 403  # the guard answered at once: no such callback
    finally:
        gate.set()
    assert busy.result(5)
    assert drawn.wait(60), "the page was never drawn after the drawing thread came free"
    thread.join()
    assert "Methods: how the results are computed" in pages[0]  # the request's own context


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux's")
def test_pages_are_drawn_in_nicer_threads_than_the_workers(sqlite_app: flask.Flask) -> None:
    own = _priority()
    settings = sqlite_app.config["PORTAL_SETTINGS"]
    assert settings.render_nice == 10
    drawing = render_slots.drawing_threads(sqlite_app)
    assert drawing.submit(_priority).result(5) == min(19, own + 10)
    assert _priority() == own, "the request's own thread must keep the worker's priority"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux's")
@pytest.mark.parametrize(("steps", "expected"), [(0, 0), (5, 5), (40, 19)])
def test_a_thread_is_made_nicer_by_the_steps_given_at_most_to_19(steps: int, expected: int) -> None:
    own = _priority()
    with ThreadPoolExecutor(1, initializer=render_slots.lower_priority, initargs=(steps,)) as pool:
        assert pool.submit(_priority).result(5) == min(19, own + expected)


@pytest.mark.parametrize(("value", "message"), [("-1", "at least 0"), ("20", "at most 19")])
def test_render_nice_is_a_nice_step(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"RENDER_NICE={value} must be {message}"):
        Settings.from_environ({"RENDER_NICE": value}, instance_path=tmp_path)


def _priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
