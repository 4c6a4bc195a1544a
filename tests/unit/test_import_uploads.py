"""The import page's kept uploads: encrypted, per session, and gone when done or expired."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from portal.import_uploads import discard_upload, keep_upload, read_upload
from portal.settings import Settings

CONTENT = b"Episode,Fnr\nE1,17055012345\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_environ({"SESSION_IDLE_MINUTES": "30"}, instance_path=tmp_path)


def kept(settings: Settings) -> list[Path]:
    return sorted((settings.instance_path / "import_uploads").glob("*/*"))


def test_a_kept_file_is_encrypted_and_read_back_by_its_session(settings: Settings) -> None:
    token = keep_upload(settings, 7, "episodes.xlsx", CONTENT)
    [path] = kept(settings)
    assert path.suffix == ".xlsx" and token not in path.name
    assert b"17055012345" not in path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o600
    upload = read_upload(settings, 7, token)
    assert upload is not None and (upload.content, upload.suffix) == (CONTENT, ".xlsx")


@pytest.mark.parametrize(
    "forged",
    [None, 7, "", "x" * 44, "../../secrets", ["token"], {"token": "x"}],
)
def test_another_session_or_a_forged_token_opens_nothing(
    settings: Settings, forged: object
) -> None:
    token = keep_upload(settings, 7, "episodes.csv", CONTENT)
    assert read_upload(settings, 8, token) is None  # the same token, another login session
    assert read_upload(settings, 7, forged) is None
    discard_upload(settings, 8, token)
    discard_upload(settings, 7, forged)
    assert len(kept(settings)) == 1


def test_a_file_copied_into_another_session_does_not_decrypt(settings: Settings) -> None:
    token = keep_upload(settings, 7, "episodes.csv", CONTENT)
    keep_upload(settings, 8, "other.csv", b"x")
    [mine] = [p for p in kept(settings) if p.parent.name == "7"]
    (settings.instance_path / "import_uploads" / "8" / mine.name).write_bytes(mine.read_bytes())
    assert read_upload(settings, 8, token) is None


def test_discarded_and_expired_files_are_gone(settings: Settings) -> None:
    token = keep_upload(settings, 7, "episodes.csv", CONTENT)
    discard_upload(settings, 7, token)
    assert kept(settings) == [] and read_upload(settings, 7, token) is None

    old = keep_upload(settings, 7, "old.csv", CONTENT)
    [path] = kept(settings)
    hour_ago = time.time() - 3600
    os.utime(path, (hour_ago, hour_ago))
    fresh = keep_upload(settings, 9, "new.csv", CONTENT)  # every upload sweeps the expired
    assert read_upload(settings, 7, old) is None
    assert read_upload(settings, 9, fresh) is not None
