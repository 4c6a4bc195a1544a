"""A worker draws one page at a time (portal/render_slots.py); nothing else waits for it."""

from __future__ import annotations

import threading

import flask
import pytest

from portal import page_cache, render_slots
from tests.conftest import callback_headers, page_router_body, render_page

WAIT_SECONDS = 0.5
"""Long enough for the test client to have drawn a page, had it not waited for the slot."""


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


def test_a_page_waits_for_the_drawing_slot_while_other_requests_do_not(
    sqlite_app: flask.Flask,
) -> None:
    page_cache.clear(sqlite_app)  # a kept page is served without drawing
    waiting = sqlite_app.test_client()
    callback_headers(waiting)  # its CSRF cookie, fetched before the slot is taken
    other = sqlite_app.test_client()
    slot = render_slots._SLOTS.semaphore  # the worker's one slot, as a page being drawn holds it
    assert slot.acquire(timeout=5)
    drawn = threading.Event()

    def draw() -> None:
        render_page(waiting, "/methods", "?lang=en")
        drawn.set()

    thread = threading.Thread(target=draw)
    thread.start()
    try:
        assert not drawn.wait(WAIT_SECONDS), "the page was drawn without a slot"
        assert other.get("/healthz").status_code == 200
        assert other.get("/api/v1/registries").status_code == 200
        answer = other.post(
            "/_dash-update-component",
            json={**page_router_body("/methods", ""), "output": "not-a-drawing.children"},
            headers=callback_headers(other),
        )
        assert answer.status_code == 403  # the guard answered at once: no such callback
    finally:
        slot.release()
    assert drawn.wait(60), "the page was never drawn after the slot came free"
    thread.join()
    assert render_slots._SLOTS.semaphore.acquire(blocking=False), "the slot was not given back"
    render_slots._SLOTS.semaphore.release()
