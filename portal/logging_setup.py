"""Every request gets an id, on each log line written while it runs, and a closing line.

Several workers write to one stream, so a line must say on its own which request it belongs
to. The id is the caller's `X-Request-ID` when it is a plausible one (from a proxy, or a
client tracing a call) and a new one otherwise; it is returned in the response header, and
`portal.log_lines` puts it on every line logged while the request runs, whichever logger
writes it.

Each request ends with one line: method, path (never the query string, which may carry
search terms), status, duration and the opaque id of the user when known. Names, national
ids, e-mail addresses, passwords and tokens are never logged; the audit log is the place
that records who did what.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Final

import flask
from werkzeug.serving import WSGIRequestHandler

from portal.auth.identity import identified_user_id
from portal.log_lines import configure, request_id
from portal.settings import Settings

REQUEST_ID_HEADER: Final = "X-Request-ID"
VALID_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,100}")
"""What an incoming id may look like: enough for UUIDs and proxies' ids, too narrow to carry
a line break, markup or a sentence into the log."""
_STATE: Final = "portal_request_log"
log = logging.getLogger("portal.request")


class DevServerRequestHandler(WSGIRequestHandler):
    """`python app.py`'s server without its own line per request: the portal writes one with
    the request id, and the server's would add the query string."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def init_app(server: flask.Flask, settings: Settings) -> None:
    """Call first in the factory: the request's id must be set before any other hook logs,
    and its closing line written after every other hook has changed the response."""
    configure(settings.log_level, settings.log_format)
    server.before_request(_begin)
    server.after_request(_finish)
    server.teardown_request(_forget)


def incoming_or_new_id(header: str | None) -> str:
    if header is not None and VALID_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def _begin() -> None:
    token = request_id.set(incoming_or_new_id(flask.request.headers.get(REQUEST_ID_HEADER)))
    setattr(flask.g, _STATE, (token, time.perf_counter()))


def _finish(response: flask.Response) -> flask.Response:
    request = flask.request
    _token, started = flask.g.get(_STATE, (None, time.perf_counter()))
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    response.headers[REQUEST_ID_HEADER] = request_id.get() or ""
    log.info(
        "%s %s %s %.1f ms",
        request.method,
        logged_path(request),
        response.status_code,
        duration_ms,
        extra={
            "method": request.method,
            "path": logged_path(request),
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": identified_user_id(),
        },
    )
    return response


def logged_path(request: flask.Request) -> str:
    """The path, except where the path itself is a secret: a route with a `<token>` (a
    patient's questionnaire link, a signed unsubscribe link) is logged as its rule,
    `/prom/<token>`, since anyone who reads the log could otherwise open the link."""
    rule = request.url_rule
    if rule is not None and "token" in rule.arguments:
        return rule.rule
    return request.path


def _forget(_error: BaseException | None) -> None:
    """The worker's next request (or thread) must not inherit this one's id."""
    token, _started = flask.g.pop(_STATE, (None, None))
    if token is not None:
        request_id.reset(token)
