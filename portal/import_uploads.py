"""An uploaded import file, kept between its preview and the import, and no longer.

The import page (portal/pages/import_page.py) previews a file before anything is written,
so the file must outlive the request that brought it, until the registrar confirms. It is
kept on the server, never sent back and forth: under `instance/import_uploads/<session>/`,
so a worker of the same installation finds it, and so one login session can never reach a
file of another. It is kept encrypted with a key that only the browser holds: the page's
store gets a random token, the file's name is a hash of it and its key is the token
itself, so the file on disk (or in a backup of the instance folder) is unreadable, and a
token forged or copied into another session opens nothing.

A file goes when it has been imported, when the same page brings another, or once it has
gone unused as long as a session may stay idle; every new upload sweeps the expired ones.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from entry.import_mapping import EXCEL_SUFFIXES
from portal.settings import Settings

FOLDER: Final = "import_uploads"
TOKEN_BYTES: Final = 32
_NONCE_BYTES: Final = 12


@dataclass(frozen=True)
class Upload:
    """The file as uploaded; `suffix` (".csv" or an Excel one) tells `read_table` its kind."""

    content: bytes
    suffix: str


def keep_upload(settings: Settings, session_id: int, filename: str, content: bytes) -> str:
    """Keep `content` for session `session_id`; the token to give the browser to name it."""
    _forget_expired(settings)
    token = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii")
    key = _key(token)
    assert key is not None
    folder = _folder(settings) / str(session_id)
    folder.mkdir(parents=True, exist_ok=True)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = nonce + AESGCM(key).encrypt(nonce, content, _context(session_id))
    path = folder / f"{_name(token)}{_suffix(filename)}"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(sealed)
    return token


def read_upload(settings: Settings, session_id: int, token: object) -> Upload | None:
    """The session's file named by `token`, or None (expired, imported, or not its own)."""
    path = _path(settings, session_id, token)
    key = _key(token)
    if path is None or key is None:
        return None
    try:
        sealed = path.read_bytes()
        content = AESGCM(key).decrypt(
            sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _context(session_id)
        )
        path.touch()  # in use: it expires only after going unused for an idle timeout
    except (OSError, InvalidTag):
        return None
    return Upload(content, path.suffix)


def discard_upload(settings: Settings, session_id: int, token: object) -> None:
    """Delete the session's file named by `token`; anything else is left alone."""
    path = _path(settings, session_id, token)
    if path is not None:
        path.unlink(missing_ok=True)


def _path(settings: Settings, session_id: int, token: object) -> Path | None:
    if _key(token) is None:
        return None
    assert isinstance(token, str)
    folder = _folder(settings) / str(session_id)
    return next(iter(sorted(folder.glob(f"{_name(token)}.*"))), None)


def _key(token: object) -> bytes | None:
    """The file's key, which is the token itself; None for anything `keep_upload` never made."""
    if not isinstance(token, str) or len(token) != 44 or not token.isascii():
        return None
    try:
        key = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == TOKEN_BYTES else None


def _name(token: str) -> str:
    """The file's name: a hash of the token, which does not give away the key."""
    return hashlib.sha256(f"import-upload:{token}".encode("ascii")).hexdigest()


def _suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return suffix if suffix in EXCEL_SUFFIXES else ".csv"


def _context(session_id: int) -> bytes:
    return f"import-upload:{session_id}".encode("ascii")


def _folder(settings: Settings) -> Path:
    return settings.instance_path / FOLDER


def _forget_expired(settings: Settings) -> None:
    """Files unused for an idle timeout go, and the folders of sessions long left empty."""
    limit = time.time() - settings.session_idle_minutes * 60
    root = _folder(settings)
    if not root.is_dir():
        return
    for folder in root.iterdir():
        for path in folder.glob("*"):
            try:
                if path.stat().st_mtime < limit:
                    path.unlink(missing_ok=True)
            except FileNotFoundError:
                continue  # another worker removed it first
        try:
            if folder.stat().st_mtime < limit:  # not one a request is writing into now
                folder.rmdir()  # only when empty
        except OSError:
            continue
