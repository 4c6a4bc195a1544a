"""PostgreSQL's own dump and restore programs, `pg_dump` and `pg_restore`, run for a backup.

They know every object of a database (tables, sequences, functions, triggers) and read one
consistent snapshot without blocking writers, which a hand-written copy would not. The
client must be of the server's major version or newer (Debian: `postgresql-client-15`);
an older one refuses, and its message is passed on. The password travels in the
environment (`PGPASSWORD`), never on a command line that `ps` shows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

from sqlalchemy.engine import URL, make_url

_READ_BYTES: Final = 1 << 20


class PostgresToolError(RuntimeError):
    """`pg_dump` or `pg_restore` is missing or failed; the message carries what it said."""


def dump(url: str, snapshot: str, sink: Callable[[bytes], None]) -> None:
    """Stream a custom-format archive of the database at `snapshot` into `sink`.

    `snapshot` comes from `pg_export_snapshot()` in a transaction the caller keeps open, so
    the archive and whatever the caller reads in that transaction see the same rows. The
    archive is not compressed here: the backup file compresses everything the same way.
    """
    uri, env = _connection(url)
    command = [
        _program("pg_dump"),
        "--format=custom",
        "--compress=0",
        f"--snapshot={snapshot}",
        "--no-password",
        f"--dbname={uri}",
    ]
    with tempfile.TemporaryFile() as errors:
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env) as process:
            assert process.stdout is not None
            while chunk := process.stdout.read(_READ_BYTES):
                sink(chunk)
        _check(process.returncode, "pg_dump", errors)


def restore(url: str, archive: Path, *, replace_schema: bool) -> None:
    """Load `archive` into the database at `url` in one transaction: all of it, or nothing.

    `replace_schema` drops the archive's objects first, for a target that holds the schema
    but no rows (as the portal's first start leaves it); the caller has checked that.
    Objects are owned by the restoring user, whoever owned them before.
    """
    uri, env = _connection(url)
    command = [
        _program("pg_restore"),
        "--single-transaction",
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        "--no-password",
        *(["--clean", "--if-exists"] if replace_schema else []),
        f"--dbname={uri}",
        str(archive),
    ]
    with tempfile.TemporaryFile() as errors:
        returncode = subprocess.call(command, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        _check(returncode, "pg_restore", errors)


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PostgresToolError(
            f"{name} is not installed: install PostgreSQL's client programs of the server's "
            "major version or newer (Debian: apt-get install postgresql-client)"
        )
    return found


def _connection(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and an environment that carries it."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    uri = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return uri.render_as_string(hide_password=False), env


def _check(returncode: int | None, name: str, errors: IO[bytes]) -> None:
    if returncode == 0:
        return
    errors.seek(0)
    said = errors.read().decode("utf-8", "replace").strip()[-2000:]
    raise PostgresToolError(f"{name} failed (exit code {returncode}): {said or 'no message'}")
