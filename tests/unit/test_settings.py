"""Settings: safe defaults for a newcomer, no invented secrets in production."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from portal.settings import SECRET_NAMES, Settings, SettingsError

KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
PRODUCTION = {
    "PORTAL_ENV": "production",
    "DATABASE_URL": "postgresql://registry@db/registry",
    "SECRET_KEY": "s" * 40,
    "NATIONAL_ID_KEY": KEY,
    "PSEUDONYM_KEY": KEY,
}


def test_defaults_use_an_sqlite_file_under_instance(tmp_path: Path) -> None:
    settings = Settings.from_environ({}, instance_path=tmp_path)
    assert settings.environment == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    assert settings.is_sqlite and settings.auto_migrate and settings.seed_demo_if_empty
    assert settings.cache_url is None and settings.log_level == "INFO"


def test_development_secrets_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings.from_environ({}, instance_path=tmp_path)
    second = Settings.from_environ({}, instance_path=tmp_path)
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 40
    assert first.national_id_key == second.national_id_key and len(first.national_id_key) == 32
    assert first.national_id_key != first.pseudonym_key
    for name in SECRET_NAMES:
        mode = (tmp_path / "secrets" / name.lower()).stat().st_mode
        assert stat.S_IMODE(mode) == 0o600


def test_production_takes_everything_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_environ(PRODUCTION, instance_path=tmp_path)
    assert settings.database_url == "postgresql+psycopg://registry@db/registry"
    assert not settings.auto_migrate and not settings.seed_demo_if_empty
    assert not (tmp_path / "secrets").exists()


@pytest.mark.parametrize("missing", SECRET_NAMES)
def test_production_refuses_to_invent_a_secret(tmp_path: Path, missing: str) -> None:
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_environ(environ, instance_path=tmp_path)
    assert not (tmp_path / "secrets").exists()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORTAL_ENV", "staging", "PORTAL_ENV"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("AUTO_MIGRATE", "perhaps", "AUTO_MIGRATE"),
        ("DEMO_REGISTRATIONS", "many", "DEMO_REGISTRATIONS"),
        ("NATIONAL_ID_KEY", base64.urlsafe_b64encode(b"short").decode(), "32 bytes"),
        ("PSEUDONYM_KEY", "not base64 at all!", "PSEUDONYM_KEY"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_environ({name: value}, instance_path=tmp_path)


def test_cache_and_log_level_are_read(tmp_path: Path) -> None:
    settings = Settings.from_environ(
        {"CACHE_URL": "redis://127.0.0.1:6379/0", "LOG_LEVEL": "debug"}, instance_path=tmp_path
    )
    assert settings.cache_url == "redis://127.0.0.1:6379/0" and settings.log_level == "DEBUG"


def test_two_factor_can_be_turned_off_in_development_only(tmp_path: Path) -> None:
    assert Settings.from_environ({}, instance_path=tmp_path).require_two_factor
    relaxed = Settings.from_environ({"REQUIRE_TWO_FACTOR": "false"}, instance_path=tmp_path)
    assert not relaxed.require_two_factor
    with pytest.raises(SettingsError, match="REQUIRE_TWO_FACTOR"):
        Settings.from_environ({**PRODUCTION, "REQUIRE_TWO_FACTOR": "false"}, instance_path=tmp_path)


def test_session_timeouts_are_settings(tmp_path: Path) -> None:
    settings = Settings.from_environ(
        {"SESSION_IDLE_MINUTES": "5", "SESSION_LIFETIME_HOURS": "2"}, instance_path=tmp_path
    )
    assert (settings.session_idle_minutes, settings.session_lifetime_hours) == (5, 2)
    assert Settings.from_environ({}, instance_path=tmp_path).session_idle_minutes == 30
