"""Typed settings read from environment variables, with safe defaults.

A new user needs no configuration: the database is a SQLite file under `instance/` and the
secrets are generated once and kept there. Production (`PORTAL_ENV=production`) never
invents a secret: every key must come from the environment, so a restarted or second
worker can never silently run with a different key than the first.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Literal, TypeVar

import redis

from data_access.patient_identity import decode_key, encode_key, generate_key

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"

Environment = Literal["development", "production", "test"]
T = TypeVar("T", bound=str)
ENVIRONMENTS: tuple[Environment, ...] = ("development", "production", "test")
SmtpSecurity = Literal["none", "starttls", "ssl"]
SMTP_SECURITIES: tuple[SmtpSecurity, ...] = ("none", "starttls", "ssl")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LogFormat = Literal["json", "text"]
LOG_FORMATS: tuple[LogFormat, ...] = ("json", "text")

# Secrets that production must be given and development generates once under instance/.
SECRET_NAMES = ("SECRET_KEY", "NATIONAL_ID_KEY", "PSEUDONYM_KEY")


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
REDIS_CONNECT_SECONDS = 5.0


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    """Everything the application reads from its environment, parsed once at start-up."""

    environment: Environment
    database_url: str
    secret_key: str
    national_id_key: bytes = field(repr=False)
    pseudonym_key: bytes = field(repr=False)
    cache_url: str | None
    log_level: str
    instance_path: Path
    registries_path: Path
    auto_migrate: bool
    seed_demo_if_empty: bool
    demo_registrations: int
    demo_seed: int
    session_idle_minutes: int = 30
    session_lifetime_hours: int = 12
    # One JSON object per log line for log collectors (production), or text for people.
    log_format: LogFormat = "text"
    # Two-factor login for everyone with a grant; only development may turn it off.
    require_two_factor: bool = True
    # The demo users' password; public on purpose (README), and demo users are refused in
    # production.
    demo_password: str = "demo-passord-2026"
    # Where patients open questionnaire links: the address the public reaches the portal at.
    public_base_url: str = "http://127.0.0.1:8050"
    # Outgoing e-mail (PROM invitations). Development expects a local catcher on port 1025
    # (e.g. `python -m aiosmtpd -n`); production names its relay and TLS.
    smtp_host: str = "localhost"
    smtp_port: int = 1025
    smtp_from: str = "noreply@kvalitetsregister.invalid"
    smtp_security: SmtpSecurity = "none"
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    # SMS: "development" keeps messages in the outbox table only; otherwise "module:factory",
    # a callable taking these settings and returning an `data_access.outbox.Sender`.
    sms_sender: str = "development"
    # Backups (docs/operations.md): their folder; the key that seals them (None only in
    # production without BACKUP_KEY, where `backup` refuses to run); how many of the newest
    # to keep; every how many hours the portal makes one itself (0: never, use cron).
    backup_dir: Path = DEFAULT_INSTANCE_PATH / "backups"
    backup_key: bytes | None = field(default=None, repr=False)
    backup_keep: int = 14
    backup_interval_hours: int = 0
    # How long a reader waits for its worker's recomputation of results after a change of
    # data before it is shown the previous results, if that should end within the wait
    # (portal/results_cache.py, `wait_worthwhile`); 0: never.
    results_wait_ms: int = 500
    # When the data moved on while the results were computed (in T), the registry's next
    # computation starts no sooner than this × T after it ended (portal/results_cache.py);
    # 0: at once.
    results_rest_factor: int = 2
    # Pages a worker draws at a time (portal/render_slots.py); other requests never wait.
    render_slots: int = 1
    # How much nicer (lower in priority) than the worker its drawing threads, its results
    # computation and (under gunicorn) polars' pool run (portal/thread_priority.py); 0: the same.
    render_nice: int = 10

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def redis(self) -> redis.Redis:
        """The process's client of `redis_url`: one connection pool per worker process, reused
        by every request (redis-py makes a new pool after a fork by itself)."""
        assert self.redis_url is not None, "CACHE_URL does not name Redis"
        return _redis_client(self.redis_url)

    @property
    def redis_url(self) -> str | None:
        """`CACHE_URL` when it names Redis: then caches, progress and limits are shared by
        every worker; None when each process keeps its own."""
        url = self.cache_url
        return url if url is not None and url.startswith(REDIS_SCHEMES) else None

    @property
    def redis_namespace(self) -> str:
        """A prefix of Redis keys per database, so that two installations (or test databases)
        sharing one Redis never read each other's pages or results."""
        return hashlib.sha256(self.database_url.encode()).hexdigest()[:16] + ":"

    def with_changes(self, **changes: object) -> Settings:
        """A copy with some fields replaced; tests use it to point at their own database."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str] | None = None,
        instance_path: Path | None = None,
    ) -> Settings:
        env = dict(os.environ if environ is None else environ)
        instance = Path(env.get("PORTAL_INSTANCE_PATH", instance_path or DEFAULT_INSTANCE_PATH))
        environment = _choice(env, "PORTAL_ENV", ENVIRONMENTS, "development")
        default_db = f"sqlite:///{instance / 'registry.sqlite3'}"
        database_url = env.get("DATABASE_URL") or default_db
        embedded = "DATABASE_URL" not in env or not env["DATABASE_URL"]
        secret_values = _secrets(env, environment, instance)
        return cls(
            environment=environment,
            database_url=_normalise_database_url(database_url),
            secret_key=secret_values["SECRET_KEY"],
            national_id_key=_decoded_key(secret_values["NATIONAL_ID_KEY"], "NATIONAL_ID_KEY"),
            pseudonym_key=_decoded_key(secret_values["PSEUDONYM_KEY"], "PSEUDONYM_KEY"),
            cache_url=env.get("CACHE_URL") or None,
            log_level=_choice(env, "LOG_LEVEL", LOG_LEVELS, "INFO"),
            log_format=_choice(
                env, "LOG_FORMAT", LOG_FORMATS, "json" if environment == "production" else "text"
            ),
            instance_path=instance,
            registries_path=Path(env.get("REGISTRIES_PATH", PROJECT_ROOT / "registries")),
            auto_migrate=_flag(env, "AUTO_MIGRATE", default=embedded),
            seed_demo_if_empty=_flag(
                env, "SEED_DEMO", default=embedded and environment == "development"
            ),
            demo_registrations=_integer(env, "DEMO_REGISTRATIONS", 50_000),
            demo_seed=_integer(env, "DEMO_SEED", 2026),
            session_idle_minutes=_integer(env, "SESSION_IDLE_MINUTES", 30),
            session_lifetime_hours=_integer(env, "SESSION_LIFETIME_HOURS", 12),
            require_two_factor=_two_factor(env, environment),
            demo_password=env.get("DEMO_PASSWORD") or "demo-passord-2026",
            backup_dir=Path(env.get("BACKUP_DIR") or instance / "backups"),
            backup_key=_backup_key(env, environment, instance),
            backup_keep=_at_least(env, "BACKUP_KEEP", 14, minimum=1),
            backup_interval_hours=_at_least(env, "BACKUP_INTERVAL_HOURS", 0, minimum=0),
            public_base_url=(env.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8050").rstrip("/"),
            smtp_host=env.get("SMTP_HOST") or "localhost",
            smtp_port=_integer(env, "SMTP_PORT", 1025),
            smtp_from=env.get("SMTP_FROM") or "noreply@kvalitetsregister.invalid",
            smtp_security=_choice(
                env,
                "SMTP_TLS",
                SMTP_SECURITIES,
                "starttls" if environment == "production" else "none",
            ),
            smtp_username=env.get("SMTP_USERNAME") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            sms_sender=env.get("SMS_SENDER") or "development",
            results_wait_ms=_at_least(env, "RESULTS_WAIT_MS", 500, minimum=0),
            results_rest_factor=_at_least(env, "RESULTS_REST_FACTOR", 2, minimum=0),
            render_slots=_at_least(env, "RENDER_SLOTS", 1, minimum=1),
            render_nice=_at_least(env, "RENDER_NICE", 10, minimum=0, maximum=19),
        )


def _decoded_key(text: str, name: str) -> bytes:
    """Keys are 32 random bytes written as URL-safe base64 (44 characters)."""
    try:
        return decode_key(text)
    except ValueError as error:
        raise SettingsError(
            f'{name}: {error}; make one with: python3 -c "import base64, os; '
            f'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
        ) from error


def _secrets(env: Mapping[str, str], environment: Environment, instance: Path) -> dict[str, str]:
    missing = [name for name in SECRET_NAMES if not env.get(name)]
    if environment == "production" and missing:
        raise SettingsError(
            "PORTAL_ENV=production requires these environment variables: " + ", ".join(missing)
        )
    values = {name: env[name] for name in SECRET_NAMES if env.get(name)}
    for name in missing:
        values[name] = _kept_secret(instance / "secrets" / name.lower())
    return values


def _kept_secret(path: Path) -> str:
    """Generate a development secret once and keep it: sessions and ciphertexts survive restarts."""
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = encode_key(generate_key())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    logging.getLogger(__name__).info("Generated a development secret in %s", path)
    return value


def _backup_key(env: Mapping[str, str], environment: Environment, instance: Path) -> bytes | None:
    """BACKUP_KEY, apart from the app's secrets: a backup outlives the server that made it.

    Production may start without one (the portal serves; `backup` refuses), unless the
    portal is to make backups itself; development keeps a generated one under instance/.
    """
    if env.get("BACKUP_KEY"):
        return _decoded_key(env["BACKUP_KEY"], "BACKUP_KEY")
    if environment != "production":
        return _decoded_key(_kept_secret(instance / "secrets" / "backup_key"), "BACKUP_KEY")
    if _integer(env, "BACKUP_INTERVAL_HOURS", 0) > 0:
        raise SettingsError("BACKUP_INTERVAL_HOURS needs BACKUP_KEY when PORTAL_ENV=production")
    return None


def _two_factor(env: Mapping[str, str], environment: Environment) -> bool:
    required = _flag(env, "REQUIRE_TWO_FACTOR", default=True)
    if not required and environment == "production":
        raise SettingsError("REQUIRE_TWO_FACTOR=false is refused when PORTAL_ENV=production")
    return required


def _normalise_database_url(url: str) -> str:
    """Accept the plain `postgresql://` form that hosting providers hand out."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _choice(env: Mapping[str, str], name: str, allowed: tuple[T, ...], default: T) -> T:
    value = env.get(name, default) or default
    for option in allowed:
        if value.lower() == option.lower():
            return option
    raise SettingsError(f"{name}={value!r} is not one of {', '.join(allowed)}")


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={value!r} is not a yes/no value (use true or false)")


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as error:
        raise SettingsError(f"{name}={value!r} is not a whole number") from error


def _at_least(
    env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    value = _integer(env, name, default)
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name}={value} must be at most {maximum}")
    return value


@cache
def _redis_client(url: str) -> redis.Redis:
    # A Redis that cannot be reached fails a request (and /healthz) in seconds, not minutes.
    return redis.Redis.from_url(url, socket_connect_timeout=REDIS_CONNECT_SECONDS)
