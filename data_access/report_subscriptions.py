"""Report subscriptions (rapportabonnement): who gets their unit's report, how often, and when.

Issue 10, point 6. A clinician or registrar subscribes to the report of a unit they may read,
weekly (Mondays 06:00, Norwegian time) or monthly (the 1st at 06:00); the report goes to the
e-mail address of their account, read at send time. What this module promises:

- scoped: subscribing needs `may_read_records` on the unit, and a user only ever sees or
  ends their own subscriptions; the sender re-checks the subscriber's grants before every
  report (`portal.reports.delivery`), so a lost grant stops the reports;
- sent once per period: `claim` moves `next_due_at` forward with a conditional UPDATE
  (only if it still holds the value read), so two runs of the sender, at once or one after
  the other, never send the same report twice;
- no clock of its own: every function takes `now`;
- audited with ids only (`report.subscribed`, `report.unsubscribed`, `report.sent`,
  `report.failed`, `report.refused`): never an address or a number of the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data_access import audit
from data_access.access import AccessDenied, AccessScope
from data_access.audit import Actor
from data_access.database import Database
from data_access.models import Registry, User
from data_access.models_subscriptions import (
    FREQUENCIES,
    REPORT_LANGUAGES,
    ReportSend,
    ReportSubscription,
)
from data_access.reference_data import stored_registry_id

OSLO: Final = ZoneInfo("Europe/Oslo")
SEND_HOUR: Final = time(6, 0)
"""Reports leave at 06:00 Norwegian time, so they are waiting when the working day starts."""
BATCH: Final = 500


class SubscriptionError(ValueError):
    """A subscription cannot be made as asked; `reason` is a key of the portal's catalogue."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Subscription:
    """One subscription as plain data (no session, no address)."""

    id: int
    user_id: int
    registry_key: str
    unit_id: int
    frequency: str
    language: str
    next_due_at: datetime
    active: bool


def next_due(frequency: str, after: datetime) -> datetime:
    """The first send time strictly after `after`, in UTC: the next Monday 06:00 (weekly) or
    the next 1st of a month 06:00 (monthly), Norwegian time, summer time included."""
    local = after.astimezone(OSLO)
    if frequency == "weekly":
        day = local.date() + timedelta(days=-local.weekday())
        step = timedelta(days=7)
        candidate = _at_send_hour(day)
        while candidate <= after:
            day += step
            candidate = _at_send_hour(day)
        return candidate
    if frequency == "monthly":
        day = local.date().replace(day=1)
        candidate = _at_send_hour(day)
        while candidate <= after:
            day = (day + timedelta(days=32)).replace(day=1)
            candidate = _at_send_hour(day)
        return candidate
    raise SubscriptionError("subscriptions.error.bad_choice")


def _at_send_hour(day: date) -> datetime:
    return datetime.combine(day, SEND_HOUR, tzinfo=OSLO).astimezone(ZoneInfo("UTC"))


def subscribe(
    database: Database,
    scope: AccessScope,
    registry_key: str,
    unit_id: int,
    frequency: str,
    language: str,
    now: datetime,
) -> Subscription:
    """Subscribe the user to the unit's report, or change their subscription's frequency and
    language (and take it up again if it was ended). The first report is due at the next
    send time of the frequency."""
    user_id = scope.actor.user_id
    if user_id is None or not scope.may_read_records(registry_key, unit_id):
        raise AccessDenied("a subscription needs a clinician or registrar grant on the unit")
    if frequency not in FREQUENCIES or language not in REPORT_LANGUAGES:
        raise SubscriptionError("subscriptions.error.bad_choice")
    try:
        return _subscribe(
            database, scope.actor, user_id, registry_key, unit_id, frequency, language, now
        )
    except IntegrityError:  # a concurrent first subscription won the race: change that one
        return _subscribe(
            database, scope.actor, user_id, registry_key, unit_id, frequency, language, now
        )


def _subscribe(
    database: Database,
    actor: Actor,
    user_id: int,
    registry_key: str,
    unit_id: int,
    frequency: str,
    language: str,
    now: datetime,
) -> Subscription:
    with database.transaction() as session:
        email = session.scalar(select(User.email).where(User.id == user_id))
        if not email:
            raise SubscriptionError("subscriptions.error.no_email")
        registry_id = _registry_id(session, registry_key)
        row = session.scalar(
            select(ReportSubscription).where(
                ReportSubscription.user_id == user_id,
                ReportSubscription.registry_id == registry_id,
                ReportSubscription.unit_id == unit_id,
            )
        )
        if row is None:
            row = ReportSubscription(user_id=user_id, registry_id=registry_id, unit_id=unit_id)
            session.add(row)
        if row.id is None or not row.active or row.frequency != frequency:
            row.next_due_at = next_due(frequency, now)
        row.frequency, row.language, row.active = frequency, language, True
        session.flush()
        audit.record(
            session,
            "report.subscribed",
            actor,
            object_type="report_subscription",
            object_id=row.id,
            registry_id=registry_id,
            details={"unit_id": unit_id, "frequency": frequency, "language": language},
        )
        return _plain(row, registry_key)


def own_subscription(
    database: Database, scope: AccessScope, registry_key: str, unit_id: int
) -> Subscription | None:
    """The user's active subscription to the unit's report; None if none (or not theirs)."""
    user_id = scope.actor.user_id
    if user_id is None or not scope.may_read_records(registry_key, unit_id):
        return None
    with database.reading() as session:
        row = session.scalar(
            select(ReportSubscription)
            .join(Registry, Registry.id == ReportSubscription.registry_id)
            .where(
                ReportSubscription.user_id == user_id,
                Registry.key == registry_key,
                ReportSubscription.unit_id == unit_id,
                ReportSubscription.active.is_(True),
            )
        )
        return _plain(row, registry_key) if row is not None else None


def has_email(database: Database, user_id: int) -> bool:
    with database.reading() as session:
        return bool(session.scalar(select(User.email).where(User.id == user_id)))


def account_email(database: Database, user_id: int) -> str | None:
    """The subscriber's address, read at send time (for the sender only; never logged)."""
    with database.reading() as session:
        email = session.scalar(
            select(User.email).where(User.id == user_id, User.is_active.is_(True))
        )
        return email or None


def unsubscribe(database: Database, scope: AccessScope, registry_key: str, unit_id: int) -> bool:
    """End the user's own subscription to the unit's report; False if there was none."""
    found = own_subscription(database, scope, registry_key, unit_id)
    if found is None:
        return False
    return end_subscription(database, found.id, scope.actor, via="portal")


def end_subscription(database: Database, subscription_id: int, actor: Actor, *, via: str) -> bool:
    """End a subscription (from the portal, an e-mail's link, or the sender when the
    subscriber may no longer have it); False if it was not active. `via` is audited."""
    with database.transaction() as session:
        row = session.get(ReportSubscription, subscription_id)
        if row is None or not row.active:
            return False
        row.active = False
        audit.record(
            session,
            "report.unsubscribed",
            actor,
            object_type="report_subscription",
            object_id=row.id,
            registry_id=row.registry_id,
            details={"unit_id": row.unit_id, "user_id": row.user_id, "via": via},
        )
        return True


def subscription_active(database: Database, subscription_id: int) -> bool | None:
    """Whether the subscription is active; None if there is no such subscription."""
    with database.reading() as session:
        row = session.get(ReportSubscription, subscription_id)
        return None if row is None else row.active


def due_subscriptions(database: Database, now: datetime, limit: int = BATCH) -> list[Subscription]:
    """Active subscriptions whose report is due at `now`, the longest waiting first."""
    with database.reading() as session:
        rows = session.execute(
            select(ReportSubscription, Registry.key)
            .join(Registry, Registry.id == ReportSubscription.registry_id)
            .where(ReportSubscription.active.is_(True), ReportSubscription.next_due_at <= now)
            .order_by(ReportSubscription.next_due_at, ReportSubscription.id)
            .limit(limit)
        ).all()
    return [_plain(row, key) for row, key in rows]


def claim(database: Database, subscription: Subscription, now: datetime) -> bool:
    """Take this period's report for sending: move `next_due_at` to the next send time after
    `now`, only if it still holds what was read. False when another run took it first.

    A report whose sending then fails is not tried again in the same period (it is logged
    as failed, and an operator may send it with `reports send-once`): a relay that accepts
    a message and then errors must not bring a second copy every hour."""
    with database.transaction() as session:
        claimed = session.execute(
            update(ReportSubscription)
            .where(
                ReportSubscription.id == subscription.id,
                ReportSubscription.active.is_(True),
                ReportSubscription.next_due_at == subscription.next_due_at,
            )
            .values(next_due_at=next_due(subscription.frequency, now))
            .execution_options(synchronize_session=False)
        )
        count: int = claimed.rowcount  # type: ignore[attr-defined]
        return count == 1


def log_send(
    database: Database,
    actor: Actor,
    *,
    registry_key: str,
    unit_id: int,
    recipients: int,
    status: str,
    now: datetime,
    subscription_id: int | None = None,
    error: str | None = None,
) -> int:
    """Write one report's outcome and its audit event (`report.<status>`); the send's id.
    `error` names only the kind of failure, never an address."""
    with database.transaction() as session:
        registry_id = _registry_id(session, registry_key)
        row = ReportSend(
            subscription_id=subscription_id,
            registry_id=registry_id,
            unit_id=unit_id,
            recipients=recipients,
            sent_at=now,
            status=status,
            error=error[:200] if error else None,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            f"report.{status}",
            actor,
            object_type="report_send",
            object_id=row.id,
            registry_id=registry_id,
            details={
                "subscription_id": subscription_id,
                "unit_id": unit_id,
                "recipients": recipients,
                "error": row.error,
            },
        )
        return row.id


def recent_sends(database: Database, limit: int = 50) -> pl.DataFrame:
    """The newest sends, for the `reports sends` command: ids, counts and outcomes only."""
    with database.reading() as session:
        rows = session.execute(
            select(
                ReportSend.id,
                ReportSend.subscription_id,
                Registry.key,
                ReportSend.unit_id,
                ReportSend.recipients,
                ReportSend.status,
                ReportSend.error,
                ReportSend.sent_at,
            )
            .join(Registry, Registry.id == ReportSend.registry_id)
            .order_by(ReportSend.id.desc())
            .limit(limit)
        ).all()
    columns = [
        "id",
        "subscription_id",
        "registry",
        "unit_id",
        "recipients",
        "status",
        "error",
        "sent_at",
    ]
    return pl.DataFrame([tuple(r) for r in rows], schema=columns, orient="row")


def _registry_id(session: Session, registry_key: str) -> int:
    found = stored_registry_id(session, registry_key)
    if found is None:
        raise SubscriptionError("subscriptions.error.bad_choice")
    return found


def _plain(row: ReportSubscription, registry_key: str) -> Subscription:
    return Subscription(
        id=row.id,
        user_id=row.user_id,
        registry_key=registry_key,
        unit_id=row.unit_id,
        frequency=row.frequency,
        language=row.language,
        next_due_at=row.next_due_at,
        active=row.active,
    )
