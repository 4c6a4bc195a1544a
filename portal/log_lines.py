"""Log lines: one JSON object per line for log collectors, or plain text for people, each
with the id of the request it was written during (`None` outside requests).

Standard library only, and nothing from the portal package: gunicorn's master loads this
file on its own (gunicorn.conf.py), so that its few lines match the workers' without the
master importing the whole portal (see there why it must not).
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from portal.settings import LogFormat

REQUEST_FIELDS: Final = ("method", "path", "status", "duration_ms", "user_id")
"""Attributes of a request's closing line that become fields of its JSON object."""
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
QUIETED_LOGGERS: Final = {"flask-limiter": logging.WARNING}
"""Flask-Limiter names the limit's key when one is reached, and per-account limits key on
the user name; a refusal is audited (`login.rate_limited`) instead."""

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The running request's id; a context variable, so that code which knows nothing of Flask
(the data layer) is tagged too."""


class RequestIdFilter(logging.Filter):
    """Puts the running request's id (None outside a request) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request id, process id
    (which worker), the request fields when present, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "pid": record.process,
        }
        entry.update(
            {name: getattr(record, name) for name in REQUEST_FIELDS if name in vars(record)}
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class StandardErrorHandler(logging.Handler):
    """Writes to whatever `sys.stderr` is at the moment (test runners replace it), one line
    per record, flushed at once so that lines of several workers do not interleave."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(level: str, log_format: LogFormat) -> None:
    """The process's logging: one handler on the root logger, replaced (not added to) when
    another application is made in the same process, as tests do."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StandardErrorHandler)]:
        root.removeHandler(old)
    handler = StandardErrorHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet_level in QUIETED_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet_level, root.level))
