"""A process that serves makes its own first request (`portal.ready_to_serve`): Dash
completes its callbacks on a process's first request, under no lock, and a worker whose
threads took their first requests together failed one with a 500."""

from __future__ import annotations

from pathlib import Path

import portal
from app import create_app
from tests.conftest import PAGE_ROUTER, make_settings


def test_a_process_that_serves_completes_dashs_callbacks_before_serving(tmp_path: Path) -> None:
    server = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'ready.sqlite3'}"))
    callbacks = server.extensions["dash"].callback_map
    assert PAGE_ROUTER not in callbacks  # left to the first request, whichever thread has it
    portal.ready_to_serve(server)
    assert PAGE_ROUTER in callbacks
    server.extensions["database"].dispose()
