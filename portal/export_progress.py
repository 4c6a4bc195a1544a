"""How far a running export has come, for the page to show while the browser downloads.

The page prepares an export (a job id bound to the user), the browser fetches the file from
the download route, and the route writes its progress under the job id after each batch;
the page polls it. The state lives where the workers share state: in Redis when `CACHE_URL`
is a redis:// URL, otherwise as small JSON files under `instance/exports/`, so the poll may
reach any worker. A job belongs to the user who prepared it: anyone else reads nothing
and writes nothing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from portal.settings import Settings

EXPIRY_SECONDS: Final = 24 * 3600
_JOB_ID = re.compile(r"[0-9a-f]{32}")


def new_job(settings: Settings, user_id: int, total: int) -> str:
    """A fresh job for `user_id`, expecting to read `total` registrations."""
    job = secrets.token_hex(16)
    _store(settings, job, {"user_id": user_id, "state": "ready", "read": 0, "rows": 0,
                           "total": total, "updated": time.time()})  # fmt: skip
    if not settings.redis_url is not None:
        _forget_old(_folder(settings))
    return job


def read_job(settings: Settings, job: object, user_id: int | None) -> dict[str, Any] | None:
    """The job's state if it exists and belongs to `user_id`, else None."""
    if user_id is None or not isinstance(job, str) or not _JOB_ID.fullmatch(job):
        return None
    state = _load(settings, job)
    if state is None or state.get("user_id") != user_id:
        return None
    return state


def update_job(settings: Settings, job: object, user_id: int | None, **changes: Any) -> None:
    """Record progress of the user's own job; a job of another user, or none, is left alone."""
    state = read_job(settings, job, user_id)
    if state is None:
        return
    assert isinstance(job, str)
    _store(settings, job, {**state, **changes, "updated": time.time()})


def _key(job: str) -> str:
    return f"export-progress:{job}"


def _folder(settings: Settings) -> Path:
    return settings.instance_path / "exports"


def _store(settings: Settings, job: str, state: dict[str, Any]) -> None:
    text = json.dumps(state)
    if settings.redis_url is not None:
        settings.redis().set(_key(job), text, ex=EXPIRY_SECONDS)
        return
    folder = _folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".job-", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    Path(temporary).replace(folder / f"{job}.json")  # atomic: a reader sees old or new


def _load(settings: Settings, job: str) -> dict[str, Any] | None:
    if settings.redis_url is not None:
        raw = settings.redis().get(_key(job))
        text = raw.decode("utf-8") if isinstance(raw, bytes) else None
    else:
        path = _folder(settings) / f"{job}.json"
        text = path.read_text(encoding="utf-8") if path.exists() else None
    if text is None:
        return None
    loaded = json.loads(text)
    return loaded if isinstance(loaded, dict) else None


def _forget_old(folder: Path) -> None:
    """Files of jobs untouched for a day go, as Redis lets their keys expire."""
    limit = time.time() - EXPIRY_SECONDS
    for path in folder.glob("*.json"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            continue  # another worker removed it first
