"""Limits of the journey across sessions: identity lockout, SMS per phone; counted by keyed hashes."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow
from erhc_h5.records.service import BEIJING
from erhc_h5.resident.models import VerificationEvent
from erhc_h5.security.pii import blind_index


def subject_hash(id_card_type_code: str, idcode: str) -> str:
    """The keyed hash of a document (type:number), the same as the card's idcode index."""
    return blind_index("idcode", f"{id_card_type_code}:{idcode}")


def phone_hash(phone: str) -> str:
    return blind_index("phone", phone)


def ip_hash(ip: str | None) -> str:
    key = current_app.config["BLIND_INDEX_KEY"]
    return hashlib.sha256(f"{key}:ip:{ip or ''}".encode()).hexdigest()


def record_event(session: Session, kind: str, *, session_id: str = "", subject: str | None = None,
                 phone: str | None = None, ip: str = "", reason: str = "", at: dt.datetime | None = None) -> None:
    session.add(VerificationEvent(kind=kind, session_id=session_id, subject_hash=subject, phone_bidx=phone,
                                  ip_hash=ip, reason=reason, at=at or utcnow()))
    session.flush()


@dataclass
class Lock:
    """An identity is locked until ``until`` (naive UTC)."""

    until: dt.datetime

    @property
    def until_beijing(self) -> str:
        local = self.until.replace(tzinfo=dt.UTC).astimezone(BEIJING)
        return local.strftime("%Y年%m月%d日 %H:%M")


def identity_lock(session: Session, subject: str, now: dt.datetime | None = None) -> Lock | None:
    """The lock on a document: LOCKOUT_FAILURES failures within LOCKOUT_WINDOW_HOURS, across all users."""
    cfg = current_app.config
    limit, window = int(cfg["LOCKOUT_FAILURES"]), dt.timedelta(hours=float(cfg["LOCKOUT_WINDOW_HOURS"]))
    now = now or utcnow()
    times = session.scalars(
        select(VerificationEvent.at).where(
            VerificationEvent.kind == "failure", VerificationEvent.subject_hash == subject,
            VerificationEvent.at > now - window,
        ).order_by(VerificationEvent.at)
    ).all()
    if len(times) < limit:
        return None
    # The lock lifts when enough of the oldest failures have left the window.
    return Lock(until=times[len(times) - limit] + window)


def sms_sends_exceeded(session: Session, phone: str, now: dt.datetime | None = None) -> bool:
    """True when this phone already received SMS_PER_PHONE_HOUR codes in the last hour."""
    now = now or utcnow()
    limit = int(current_app.config.get("SMS_PER_PHONE_HOUR", 5))
    count = session.scalar(
        select(func.count()).select_from(VerificationEvent).where(
            VerificationEvent.kind == "sms_sent", VerificationEvent.phone_bidx == phone,
            VerificationEvent.at > now - dt.timedelta(hours=1),
        )
    )
    return count >= limit
