"""Backup settings: a key of its own, never invented in production; sane numbers only."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from portal.settings import Settings, SettingsError

KEY = base64.urlsafe_b64encode(b"b" * 32).decode()
PRODUCTION = {
    "PORTAL_ENV": "production",
    "DATABASE_URL": "postgresql://registry@db/registry",
    "SECRET_KEY": "s" * 40,
    "NATIONAL_ID_KEY": base64.urlsafe_b64encode(b"n" * 32).decode(),
    "PSEUDONYM_KEY": base64.urlsafe_b64encode(b"p" * 32).decode(),
}


def test_development_keeps_a_generated_backup_key_of_its_own(tmp_path: Path) -> None:
    first = Settings.from_environ({}, instance_path=tmp_path)
    second = Settings.from_environ({}, instance_path=tmp_path)
    assert first.backup_key is not None and len(first.backup_key) == 32
    assert first.backup_key == second.backup_key
    assert first.backup_key not in {first.national_id_key, first.pseudonym_key}
    assert stat.S_IMODE((tmp_path / "secrets" / "backup_key").stat().st_mode) == 0o600
    assert first.backup_dir == tmp_path / "backups"
    assert (first.backup_keep, first.backup_interval_hours) == (14, 0)


def test_production_reads_the_key_and_never_invents_one(tmp_path: Path) -> None:
    without = Settings.from_environ(PRODUCTION, instance_path=tmp_path)
    assert without.backup_key is None and not (tmp_path / "secrets").exists()
    given = Settings.from_environ(
        {**PRODUCTION, "BACKUP_KEY": KEY, "BACKUP_DIR": "/srv/backups", "BACKUP_KEEP": "30"},
        instance_path=tmp_path,
    )
    assert given.backup_key == b"b" * 32
    assert given.backup_dir == Path("/srv/backups") and given.backup_keep == 30
    assert "backup_key" not in repr(given)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({**PRODUCTION, "BACKUP_INTERVAL_HOURS": "24"}, "BACKUP_INTERVAL_HOURS needs BACKUP_KEY"),
        ({"BACKUP_KEEP": "0"}, "BACKUP_KEEP=0 must be at least 1"),
        ({"BACKUP_INTERVAL_HOURS": "-1"}, "BACKUP_INTERVAL_HOURS=-1 must be at least 0"),
        ({"BACKUP_KEY": "too short"}, "BACKUP_KEY"),
    ],
)
def test_bad_backup_settings_are_named(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_environ(environ, instance_path=tmp_path)
