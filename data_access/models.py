"""The registry's tables as typed SQLAlchemy 2 models.

The schema itself is owned by the Alembic migrations in `data_access/migrations/`; these
models must describe the same tables (a test compares them), so the ORM and the migrated
database can never drift apart unnoticed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UNIT_LEVELS = ("nation", "region", "trust", "hospital", "department")
REGISTRATION_STATUSES = ("draft", "complete", "locked")
PUBLISHED_STATUSES = ("complete", "locked")
"""The statuses results count: a draft may still change or be abandoned."""
ROLES = ("clinician", "registrar", "analyst", "admin")

# JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


def utc_now() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A moment in UTC that comes back timezone-aware from SQLite too (which drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; timestamps must carry a timezone")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[object, object]] = {
        dict[str, Any]: JsonDocument,
        list[int]: JsonDocument,
    }


class Unit(Base):
    """An organisation unit (behandlingsenhet): nation, region, trust, hospital or department."""

    __tablename__ = "units"
    __table_args__ = (CheckConstraint(_in("level", UNIT_LEVELS), name="level"),)

    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.unit_id"), index=True)
    level: Mapped[str] = mapped_column(String(12))
    org_number: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(100))
    register_name: Mapped[str | None] = mapped_column(String(200))
    merged_org_numbers: Mapped[list[int]] = mapped_column(default=list)


class Registry(Base):
    """One national quality registry, defined by its folder under `registries/`."""

    __tablename__ = "registries"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name_nb: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    # Bumped by every committed change of registrations; results are cached per version.
    data_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class Patient(Base):
    """A person, known to the database only by an encrypted national id and a keyed pseudonym."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    # HMAC-SHA256 of the national id: links a person's episodes without decrypting anything.
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    national_id_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(6))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str] = mapped_column(String(2), default="nb")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Lockout after repeated failures (brute force); cleared by a successful login.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # TOTP secret, encrypted like national ids; set once enrolment is confirmed.
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    grants: Mapped[list[Grant]] = relationship(
        back_populates="user", foreign_keys="Grant.user_id", cascade="all, delete-orphan"
    )


class Grant(Base):
    """A role for one user in one registry on one unit and every unit below it."""

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        UniqueConstraint("user_id", "registry_id", "unit_id", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.unit_id"))
    role: Mapped[str] = mapped_column(String(12))
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)

    user: Mapped[User] = relationship(back_populates="grants", foreign_keys=[user_id])


class UserSession(Base):
    """A server-side login session: renewed at login, ended by idle time, lifetime or logout.

    The cookie holds only a random token; the database keeps its hash, so every worker
    sees the same sessions and an administrator can end them.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Set when the second factor was given in this session (or is not required).
    two_factor_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    remote_addr: Mapped[str | None] = mapped_column(String(45))


class RecoveryCode(Base):
    """A one-time code that stands in for TOTP when the phone is lost; stored hashed."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Registration(Base):
    """One patient episode at one unit (registrering), with the values of all its forms.

    The values live in one JSON document keyed by dictionary variable, so a registry's
    dictionary can change without a migration; `version` makes concurrent edits fail
    loudly instead of overwriting each other.
    """

    __tablename__ = "registrations"
    __table_args__ = (
        CheckConstraint(_in("status", REGISTRATION_STATUSES), name="status"),
        Index("ix_registrations_registry_unit_date", "registry_id", "unit_id", "event_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.unit_id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    event_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, onupdate=utc_now)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it)


class CoverageCount(Base):
    """Eligible patients per unit and year from an outside source (for dekningsgrad)."""

    __tablename__ = "coverage_counts"

    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.unit_id"), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    eligible: Mapped[int]


class AuditEvent(Base):
    """An append-only record of who did what; each row carries the hash of the one before."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(80))
    remote_addr: Mapped[str | None] = mapped_column(String(45))
    action: Mapped[str] = mapped_column(String(60), index=True)
    registry_id: Mapped[int | None] = mapped_column(ForeignKey("registries.id"))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The newest link of the audit chain: the one row every append locks and moves forward.

    Deleting the newest events leaves a chain that still links up; only this row, written in
    the same transaction as every append, remembers how far the chain reached.
    """

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_event_id: Mapped[int | None] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    event_count: Mapped[int] = mapped_column(Integer)


# The API's, the importer's, PROM's and the report subscriptions' tables join the same
# metadata (migrations and the models test need them all).
from data_access import (  # noqa: E402, F401
    models_aggregate,
    models_api,
    models_import,
    models_prom,
    models_subscriptions,
)
