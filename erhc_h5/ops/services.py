"""What the ops views change: the readiness probe's write and the requeue of refused versions, each
in a transaction of its own."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.db import utcnow
from erhc_h5.logs import log_event
from erhc_h5.ops.models import ReadinessProbe
from erhc_h5.resident.limits import take
from erhc_h5.sync.models import REQUEUE_STATES
from erhc_h5.sync.repair import requeue as requeue_entries
from erhc_h5.uow import unit_of_work

# What readiness writes, committed, so a database that answers reads but cannot write (disk full,
# read-only, a standby) is "not ready" instead of failing every journey: the probe table emptied and
# given one row (ops/models.py says why that needs new disk space), and one counter row.
PROBE_KEY = "readyz:probe"
PROBE_TIMEOUT_MS = 2000


def probe_write(session: Session) -> str:
    """'ok', or why the database cannot take a write now: unavailable, read_only, disk_full,
    write_failed. The probe's write is committed (a commit is what a full disk refuses); parallel
    probes each add one to the same counter."""
    from erhc_h5.errors import database_condition, is_database_outage

    try:
        with unit_of_work(session):
            postgres = session.get_bind().dialect.name == "postgresql"
            if postgres:
                session.execute(text(f"SET LOCAL statement_timeout = {PROBE_TIMEOUT_MS}"))
            # TRUNCATE gives the table a new empty file (SQLite has none: DELETE); parallel probes queue on its lock.
            session.execute(text("TRUNCATE readiness_probes" if postgres else "DELETE FROM readiness_probes"))
            session.execute(insert(ReadinessProbe).values(id=1, at=utcnow()))
            take(session, PROBE_KEY, 2**31 - 1, dt.timedelta(days=1))
        return "ok"
    except SQLAlchemyError as exc:
        condition = database_condition(exc)
        if condition is not None:
            return condition
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
