"""The tables of report subscriptions (rapportabonnement) and of every report sent.

Kept apart from `models.py` so the schema reads on its own; `models.py` imports this module
at its end, so `Base.metadata` always holds these tables too (migrations, tests).

A subscription belongs to one user, one registry and one unit (one row each, reused when
the user subscribes again), and is sent to the e-mail address of the user's account, read
at send time, so the address is never copied here. `next_due_at` is the moment the next
report is due; a sender claims a report by moving it forward with a conditional UPDATE, so
two senders never send the same one. The send log keeps ids, counts and the kind of an
error only: no address, no report content.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from data_access.models import Base, UtcDateTime, _in, utc_now

FREQUENCIES = ("weekly", "monthly")
REPORT_LANGUAGES = ("nb", "en")
SEND_STATUSES = ("sent", "failed", "refused")
"""`refused`: not sent because the subscriber may no longer read the unit or has no
e-mail address (the subscription is then ended)."""


class ReportSubscription(Base):
    """A user's standing order for their unit's report, weekly or monthly."""

    __tablename__ = "report_subscriptions"
    __table_args__ = (
        CheckConstraint(_in("frequency", FREQUENCIES), name="frequency"),
        CheckConstraint(_in("language", REPORT_LANGUAGES), name="language"),
        UniqueConstraint("user_id", "registry_id", "unit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.unit_id"))
    frequency: Mapped[str] = mapped_column(String(7))
    language: Mapped[str] = mapped_column(String(2), default="nb")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    next_due_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    active: Mapped[bool] = mapped_column(default=True)


class ReportSend(Base):
    """One report sent (or tried): by a subscription, or once by an operator (no subscription)."""

    __tablename__ = "report_sends"
    __table_args__ = (CheckConstraint(_in("status", SEND_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("report_subscriptions.id", ondelete="SET NULL"), index=True
    )
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.unit_id"))
    recipients: Mapped[int]
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    status: Mapped[str] = mapped_column(String(7))
    error: Mapped[str | None] = mapped_column(String(200))
