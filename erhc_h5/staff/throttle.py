"""Per-username sign-in backoff, kept in the database so that every worker and process sees it.

An attempt first takes a slot with one atomic statement (INSERT … ON CONFLICT DO UPDATE … WHERE):
only while fewer than STAFF_LOGIN_MAX_FAILURES slots are taken and no backoff is running. The slot
is committed before the password is checked, so of parallel attempts at most that many reach a
check; the rest are refused without one, a right password included. The attempt that finds the
cap reached after its wrong password starts the backoff (base × 2^lockouts, up to the maximum) and
frees the slots; a right password clears the row. Keyed by the typed username, existing or not, so
the answers never tell whether an account exists.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import case, delete, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow
from erhc_h5.staff.models import LoginThrottle

# Failures older than this (and no backoff running) no longer count: a typo a month ago is forgotten.
FORGET_AFTER = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Slot:
    """A slot taken for one attempt; ``lockouts`` as seen when it was taken."""

    key: str
    lockouts: int


def key_of(username: str) -> str:
    return (username or "").strip().lower()[:64]


def take(session: Session, username: str, now: dt.datetime | None = None) -> Slot | None:
    """A slot for one password check, or None while the username is backing off (nothing checked)."""
    now, key = now or utcnow(), key_of(username)
    limit = int(current_app.config["STAFF_LOGIN_MAX_FAILURES"])
    t = LoginThrottle
    free = or_(t.blocked_until.is_(None), t.blocked_until <= now)
    stale = free & (t.updated_at <= now - FORGET_AFTER)
    insert_ = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert_(t).values(username=key, failures=1, lockouts=0, blocked_until=None, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=["username"],
        set_={"failures": case((stale, 1), else_=t.failures + 1),
              "lockouts": case((stale, 0), else_=t.lockouts), "updated_at": now},
        where=stale | (free & (t.failures < limit)),
    ).returning(t.lockouts)
    row = session.execute(statement).first()
    return None if row is None else Slot(key, int(row.lockouts))


def failed(session: Session, slot: Slot, now: dt.datetime | None = None) -> dt.datetime | None:
    """Record a wrong password; if the cap is reached, start the backoff (once, whoever comes first)
    and return its end."""
    now = now or utcnow()
    cfg = current_app.config
    seconds = min(float(cfg["STAFF_LOGIN_BACKOFF_SECONDS"]) * 2 ** min(slot.lockouts, 30),
                  float(cfg["STAFF_LOGIN_BACKOFF_MAX_SECONDS"]))
    until = now + dt.timedelta(seconds=seconds)
    t = LoginThrottle
    done = session.execute(
        update(t).where(t.username == slot.key, t.failures >= int(cfg["STAFF_LOGIN_MAX_FAILURES"]),
                        t.lockouts == slot.lockouts)
        .values(failures=0, lockouts=t.lockouts + 1, blocked_until=until, updated_at=now)
        .execution_options(synchronize_session=False))
    return until if done.rowcount == 1 else None


def blocked_until(session: Session, username: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the running backoff of ``username`` ends (None: none running)."""
    now = now or utcnow()
    row = session.get(LoginThrottle, key_of(username))
    if row is None or row.blocked_until is None or row.blocked_until <= now:
        return None
    return row.blocked_until


def clear(session: Session, username: str) -> None:
    """Forget the username's failures: a right password, or an admin's reset."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.username == key_of(username))
                    .execution_options(synchronize_session=False))
