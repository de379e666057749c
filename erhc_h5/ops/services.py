"""What the ops views change: the readiness probe's write and the requeue of refused versions, each
in a transaction of its own."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.logs import log_event
from erhc_h5.resident.limits import take
from erhc_h5.sync.models import REQUEUE_STATES
from erhc_h5.sync.repair import requeue as requeue_entries
from erhc_h5.uow import unit_of_work

# What readiness writes: one counter row, committed, so a database that answers reads but cannot
# write (disk full, read-only, a standby) is "not ready" instead of failing every journey.
PROBE_KEY = "readyz:probe"
PROBE_TIMEOUT_MS = 2000


def probe_write(session: Session) -> str:
    """'ok', or why the database cannot take a write now: unavailable, read_only, disk_full,
    write_failed. The probe's write is committed (a commit is what a full disk refuses); parallel
    probes each add one to the same counter."""
    from erhc_h5.errors import is_database_outage

    try:
        with unit_of_work(session):
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SET LOCAL statement_timeout = {PROBE_TIMEOUT_MS}"))
            take(session, PROBE_KEY, 2**31 - 1, dt.timedelta(days=1))
        return "ok"
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", exc)).lower()
        if "read-only" in detail or "read only" in detail or "readonly" in detail:
            return "read_only"
        if "no space" in detail or "disk" in detail and "full" in detail:
            return "disk_full"
        return "unavailable" if is_database_outage(exc) else "write_failed"


def requeue(session: Session, entry_id: int | None, *, staff_id: int) -> int:
    """Requeue one rejected version (``entry_id``) or every rejected and dead one, audited, committed;
    returns how many versions went back (the sync module's rules, sync/repair.py)."""
    with unit_of_work(session):
        count = requeue_entries(session, entry_ids=[entry_id] if entry_id else None, states=REQUEUE_STATES)
        audit(session, "ops.requeue", actor_type="staff", actor_id=staff_id, target_type="outbox",
              target_id=entry_id or "", detail={"versions": count})
    log_event("ops.requeue", versions=count, staff_user_id=staff_id)
    return count
