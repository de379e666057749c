"""Limits of the journey across sessions: guesses and failures per person, and SMS per phone.

A name and an ID number are known to strangers, so a stranger's failures must never stop the real
person from passing by a stronger method. Failures are therefore counted three ways:

- per (person, app account) and per (person, source address): the hard caps. LOCKOUT_FAILURES
  refuted checks in the window lock that account, or that source, for that person — every online
  method, since that account or source has shown it does not hold the person's details;
- per person, from anyone: only *slows* the knowledge check (two-factor) with a growing wait
  (KNOWLEDGE_BACKOFF_SECONDS doubling to KNOWLEDGE_BACKOFF_MAX_SECONDS); it never closes
  three-factor, face or on-site, and it is the attack signal the ops page shows.

Every limit is an atomic counter (``rate_counters``): one conditional UPDATE takes a unit only while
the count is under the cap, so parallel requests cannot all read "4 of 5" and each take the fifth.
A check takes its guesses *before* the provider is asked (``take_guess``) and ``give_back_guess`` gives
them back whenever the check ends without a refutation (a pass, a provider outage, a step-up, an
unusable photo). On-site staff lift a person's counters after checking the document (``lift``).
Counted by keyed hashes only: no document number or phone is stored in clear here.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import case, delete, insert, or_, select, update
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
    """A failure or an SMS send, for the ops figures (the counters are ``count_failure``'s)."""
    session.add(VerificationEvent(kind=kind, session_id=session_id, subject_hash=subject, phone_bidx=phone,
                                  ip_hash=ip, reason=reason, at=at or utcnow()))
    session.flush()


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

@dataclass(frozen=True)
class Who:
    """Whom a check is counted against: the person, the app account asking and the source address."""

    subject: str
    account: int | None = None
    source: str = ""

    @classmethod
    def of(cls, vs) -> "Who":
        """The parties of a verification session (its person, app user and the address it began from)."""
        return cls(vs.subject_hash or "", vs.app_user_id, (vs.ip_hash or "")[:16])

    def scoped(self, kind: str) -> tuple[str, ...]:
        """The per-account and per-source counter keys of ``kind`` (guess or fail)."""
        keys = []
        if self.account is not None:
            keys.append(f"{kind}:{self.subject}:a{self.account}")
        if self.source:
            keys.append(f"{kind}:{self.subject}:s{self.source}")
        return tuple(keys)


@dataclass
class Lock:
    """An identity is locked for one account or source until ``until`` (naive UTC)."""

    until: dt.datetime

    @property
    def until_beijing(self) -> str:
        return fmt(self.until, "%Y年%m月%d日 %H:%M")


@dataclass
class Slowed:
    """The knowledge check of a person who collected failures waits until ``until`` (naive UTC)."""

    until: dt.datetime

    @property
    def wait_seconds(self) -> int:
        return max(1, int((self.until - utcnow()).total_seconds() + 0.999))


ACCOUNT_BUSY = "person_busy"


def _lockout() -> tuple[int, dt.timedelta]:
    cfg = current_app.config
    return int(cfg["LOCKOUT_FAILURES"]), dt.timedelta(hours=float(cfg["LOCKOUT_WINDOW_HOURS"]))


def identity_lock(session: Session, who: Who, now: dt.datetime | None = None) -> Lock | None:
    """The lock on this account or source for this person: LOCKOUT_FAILURES refuted in the window."""
    limit, window = _lockout()
    for key in who.scoped("fail"):
        count, started = used(session, key, window, now)
        if count >= limit and started is not None:
            return Lock(until=started + window)
    return None


def tries_left(session: Session, who: Who, now: dt.datetime | None = None) -> int:
    """Refuted checks this account and source may still make for this person before the lock."""
    limit, window = _lockout()
    now = now or utcnow()
    keys = who.scoped("fail")
    if not keys:
        return limit
    rows = session.execute(select(RateCounter.count).where(RateCounter.key.in_(keys),
                                                           RateCounter.window_start > now - window)).scalars()
    return max(0, limit - max(rows, default=0))


def person_failures(session: Session, subject: str, now: dt.datetime | None = None) -> int:
    """Refuted checks of this person in the window, from any account or source."""
    return used(session, f"fail:{subject}", _lockout()[1], now)[0]


def _knowledge_wait(failures: int) -> dt.timedelta | None:
    """How long the knowledge check waits between tries after ``failures`` (None: it does not wait)."""
    limit, _ = _lockout()
    if failures < limit:
        return None
    cfg = current_app.config
    base, cap = float(cfg["KNOWLEDGE_BACKOFF_SECONDS"]), float(cfg["KNOWLEDGE_BACKOFF_MAX_SECONDS"])
    return dt.timedelta(seconds=min(cap, base * 2 ** min(failures - limit, 30)))


def take_guess(session: Session, who: Who, *, knowledge: bool,
               now: dt.datetime | None = None) -> Lock | Slowed | str | None:
    """Spend a guess of this account and this source for the person, before the provider is asked.

    None: go ahead. A Lock: this account or source is locked for the person. A Slowed: the person
    collected failures from others and the knowledge check must wait (atomic: of parallel tries one
    goes ahead per wait). ACCOUNT_BUSY: the guesses left are all taken by checks under way."""
    now = now or utcnow()
    lock = identity_lock(session, who, now)
    if lock is not None:
        return lock
    if knowledge and (wait := _knowledge_wait(person_failures(session, who.subject, now))) is not None:
        if not take(session, f"slow:{who.subject}", 1, wait, now):
            _, started = used(session, f"slow:{who.subject}", wait, now)
            return Slowed(until=(started or now) + wait)
    limit, window = _lockout()
    taken: list[str] = []
    for key in who.scoped("guess"):
        if not take(session, key, limit, window, now):
            for done in taken:
                give_back(session, done)
            return identity_lock(session, who, now) or ACCOUNT_BUSY
        taken.append(key)
    return None


def give_back_guess(session: Session, who: Who) -> None:
    """The check ended without a refutation (a pass, an outage, a step-up …): its guess does not count."""
    for key in who.scoped("guess"):
        give_back(session, key)


def count_failure(session: Session, who: Who, now: dt.datetime | None = None) -> None:
    """A refuted check: towards this account's and source's lock, and the person-wide figure."""
    _, window = _lockout()
    for key in (f"fail:{who.subject}",) + who.scoped("fail"):
        take(session, key, 2**31 - 1, window, now)


def lift(session: Session, subject: str) -> int:
    """Staff checked the document: every lock, guess and wait of this person ends. Returns rows ended."""
    patterns = [f"{kind}:{subject}%" for kind in ("fail", "guess", "slow")]
    result = session.execute(delete(RateCounter).where(or_(*(RateCounter.key.like(p) for p in patterns)))
                             .execution_options(synchronize_session=False))
    return result.rowcount or 0


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
