"""Limits of the journey across sessions: identity lockout and SMS per phone, counted per person.

Every limit is an atomic counter (``rate_counters``): one conditional UPDATE takes a unit only
while the count is under the cap, so parallel requests cannot all read "4 of 5" and each take the
fifth. A person has two counters: ``guess`` (checks failed or under way) caps what may reach the
provider — a check takes its unit *before* the provider is asked and gives it back when the person
passes — and ``fail`` (checks refuted) is the lock. Counted by keyed hashes only: no document
number or phone is stored in clear here.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import case, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow
from erhc_h5.resident.models import RateCounter, VerificationEvent
from erhc_h5.security.pii import blind_index, person_index
from erhc_h5.timefmt import fmt


def subject_hash(id_card_type_code: str, idcode: str, nationality: str | None = None) -> str:
    """The keyed hash of the person behind a document: the same under every document type."""
    return person_index(id_card_type_code, idcode, nationality)


def phone_hash(phone: str) -> str:
    return blind_index("phone", phone)


def ip_hash(ip: str | None) -> str:
    key = current_app.config["BLIND_INDEX_KEY"]
    return hashlib.sha256(f"{key}:ip:{ip or ''}".encode()).hexdigest()


def record_event(session: Session, kind: str, *, session_id: str = "", subject: str | None = None,
                 phone: str | None = None, ip: str = "", reason: str = "", at: dt.datetime | None = None) -> None:
    """A failure or an SMS send, for the ops figures; a failure also counts towards the person's lock."""
    session.add(VerificationEvent(kind=kind, session_id=session_id, subject_hash=subject, phone_bidx=phone,
                                  ip_hash=ip, reason=reason, at=at or utcnow()))
    session.flush()
    if kind == "failure" and subject:
        _, window = _lockout()
        take(session, f"fail:{subject}", 2**31 - 1, window, at)


# --- atomic counters ---------------------------------------------------------------------------

def _ensure_counter(session: Session, key: str, now: dt.datetime) -> None:
    dialect = session.get_bind().dialect.name
    values = {"key": key, "window_start": now, "count": 0}
    if dialect == "postgresql":
        session.execute(pg_insert(RateCounter).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    elif dialect == "sqlite":
        session.execute(sqlite_insert(RateCounter).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    elif session.get(RateCounter, key) is None:  # pragma: no cover - other databases
        session.execute(insert(RateCounter).values(**values))


def take(session: Session, key: str, limit: int, window: dt.timedelta, now: dt.datetime | None = None) -> bool:
    """Take one unit of ``key`` if fewer than ``limit`` were taken in the current window (atomic)."""
    now = now or utcnow()
    expired = RateCounter.window_start <= now - window
    dialect = session.get_bind().dialect.name
    if limit >= 1 and dialect in ("postgresql", "sqlite"):
        # One statement: insert the key's first unit, or take one from the existing row under the
        # same condition as below. INSERT ... ON CONFLICT DO UPDATE is atomic (PostgreSQL locks the
        # row and evaluates the WHERE on its newest version; SQLite holds the write lock); a row
        # comes back only when a unit was taken.
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        upsert = insert_(RateCounter).values(key=key, window_start=now, count=1).on_conflict_do_update(
            index_elements=["key"],
            set_={"count": case((expired, 1), else_=RateCounter.count + 1),
                  "window_start": case((expired, now), else_=RateCounter.window_start)},
            where=expired | (RateCounter.count < limit),
        ).returning(RateCounter.count)
        return session.execute(upsert).first() is not None
    _ensure_counter(session, key, now)
    result = session.execute(
        update(RateCounter)
        .where(RateCounter.key == key, (expired | (RateCounter.count < limit)))
        .values(count=case((expired, 1), else_=RateCounter.count + 1),
                window_start=case((expired, now), else_=RateCounter.window_start))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def give_back(session: Session, key: str) -> None:
    """Return a unit taken for a step that did not happen or did not count (a pass, a provider outage)."""
    session.execute(update(RateCounter).where(RateCounter.key == key, RateCounter.count > 0)
                    .values(count=RateCounter.count - 1).execution_options(synchronize_session=False))


def used(session: Session, key: str, window: dt.timedelta, now: dt.datetime | None = None) -> tuple[int, dt.datetime | None]:
    """(units taken in the current window, when the window started) without taking one."""
    now = now or utcnow()
    row = session.execute(select(RateCounter.count, RateCounter.window_start).where(RateCounter.key == key)).first()
    if row is None or row.window_start <= now - window:
        return 0, None
    return row.count, row.window_start


# --- identity lockout --------------------------------------------------------------------------

@dataclass
class Lock:
    """An identity is locked until ``until`` (naive UTC)."""

    until: dt.datetime

    @property
    def until_beijing(self) -> str:
        return fmt(self.until, "%Y年%m月%d日 %H:%M")


def _lockout() -> tuple[int, dt.timedelta]:
    cfg = current_app.config
    return int(cfg["LOCKOUT_FAILURES"]), dt.timedelta(hours=float(cfg["LOCKOUT_WINDOW_HOURS"]))


def identity_lock(session: Session, subject: str, now: dt.datetime | None = None) -> Lock | None:
    """The lock on a person: LOCKOUT_FAILURES checks refuted in the window, across all users."""
    limit, window = _lockout()
    count, started = used(session, f"fail:{subject}", window, now)
    if count < limit or started is None:
        return None
    return Lock(until=started + window)


PERSON_BUSY = "person_busy"


def take_guess(session: Session, subject: str, now: dt.datetime | None = None) -> Lock | str | None:
    """Spend one of the person's guesses before the provider is asked.

    None: go ahead. A Lock: the person is locked. PERSON_BUSY: the guesses left are all taken by
    checks under way in other sessions; none may start until they come back."""
    lock = identity_lock(session, subject, now)
    if lock is not None:
        return lock
    limit, window = _lockout()
    if take(session, f"guess:{subject}", limit, window, now):
        return None
    return identity_lock(session, subject, now) or PERSON_BUSY


def refund_guess(session: Session, subject: str) -> None:
    """The check passed, or never reached the provider: the guess does not count."""
    give_back(session, f"guess:{subject}")


# --- SMS per phone -----------------------------------------------------------------------------

def take_sms(session: Session, phone: str, now: dt.datetime | None = None) -> bool:
    """One SMS to this phone, if it got fewer than SMS_PER_PHONE_HOUR in the current hour (atomic)."""
    limit = int(current_app.config["SMS_PER_PHONE_HOUR"])
    return take(session, f"sms:{phone}", limit, dt.timedelta(hours=1), now)


def refund_sms(session: Session, phone: str) -> None:
    give_back(session, f"sms:{phone}")


def sms_sends_exceeded(session: Session, phone: str, now: dt.datetime | None = None) -> bool:
    """True when this phone already received SMS_PER_PHONE_HOUR codes in the current hour."""
    limit = int(current_app.config["SMS_PER_PHONE_HOUR"])
    return used(session, f"sms:{phone}", dt.timedelta(hours=1), now)[0] >= limit
