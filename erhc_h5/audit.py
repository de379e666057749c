"""The audit log: who did what to which object, when; details never carry personal data."""
from __future__ import annotations

import datetime as dt

from flask import g, has_request_context
from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from erhc_h5.db import Base, utcnow
from erhc_h5.text import ascii_digits


class AuditEntry(Base):
    """One audited action."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(16))  # staff | device | resident | system
    actor_id: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    request_id: Mapped[str] = mapped_column(String(32), default="")
    staff_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


def audit(
    session: Session,
    action: str,
    *,
    actor_type: str = "system",
    actor_id: str | int = "",
    target_type: str = "",
    target_id: str | int = "",
    detail: dict | None = None,
) -> AuditEntry:
    """Add an audit entry to the session (committed with the caller's transaction)."""
    entry = AuditEntry(
        actor_type=actor_type,
        actor_id=str(actor_id),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        detail=detail or {},
        request_id=(g.get("request_id", "") if has_request_context() else ""),
        staff_user_id=int(actor_id) if actor_type == "staff" and ascii_digits(str(actor_id)) else None,
    )
    session.add(entry)
    return entry
