"""Outbox figures and repairs for ops: counts by state, rejected versions, and requeue.

Requeue rules:
- a *dead* or *refused* batch is put back to ``ready`` with its attempt counter cleared; it keeps
  its cd_batch and its members, so it is resent unchanged (a version never changes batch);
- a *rejected* version is never resent as it was (the province already judged it). Requeue writes
  a NEW version of the card's record from the card as it is now (fix the card first), and marks the
  old entry ``superseded``. If a newer version of that record already exists (the fix itself
  wrote one), the old entry is only marked ``superseded``.
"""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.db import utcnow, write_transaction
from erhc_h5.logs import log_event
from erhc_h5.records.models import AuthRecord
from erhc_h5.records.versions import RecordInvalid, record_card_version
from erhc_h5.cards.models import EHealthCard
from erhc_h5.sync.models import (
    BATCH_STATES, OUTBOX_STATES, REQUEUE_STATES, WAITING_STATES, BatchState, OutboxEntry, OutboxState, SyncBatch,
)


def outbox_counts(session: Session) -> dict:
    """Record versions by outbox state, the age of the oldest one still waiting, batches by state."""
    by_state = dict(session.execute(select(OutboxEntry.state, func.count()).group_by(OutboxEntry.state)).all())
    counts: dict = {state: int(by_state.get(state, 0)) for state in OUTBOX_STATES}
    for state, n in by_state.items():
        counts.setdefault(state, int(n))
    oldest = session.scalar(select(func.min(OutboxEntry.created_at)).where(OutboxEntry.state.in_(WAITING_STATES)))
    counts["oldest_pending_age_seconds"] = (
        round(max(0.0, (utcnow() - oldest).total_seconds()), 1) if oldest is not None else None
    )
    batches = dict(session.execute(select(SyncBatch.state, func.count()).group_by(SyncBatch.state)).all())
    counts["batches"] = {state: int(batches.get(state, 0)) for state in BATCH_STATES}
    return counts


def waiting_count(session: Session) -> int:
    """Record versions not yet sent or not yet answered (pending or batched), read through the state
    index: it costs what waits, not the whole outbox."""
    return int(session.scalar(select(func.count()).select_from(OutboxEntry)
                              .where(OutboxEntry.state.in_((OutboxState.PENDING, OutboxState.BATCHED)))) or 0)


def rejected_entries(session: Session, limit: int = 50) -> list[dict]:
    """The newest rejected versions with the province's reasons (no personal data)."""
    rows = session.execute(
        select(OutboxEntry, AuthRecord.record_id, AuthRecord.cd_operation, AuthRecord.cd_time, SyncBatch.cd_batch)
        .join(AuthRecord, AuthRecord.id == OutboxEntry.auth_record_id)
        .outerjoin(SyncBatch, SyncBatch.id == OutboxEntry.batch_id)
        .where(OutboxEntry.state == OutboxState.REJECTED)
        .order_by(OutboxEntry.updated_at.desc(), OutboxEntry.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": entry.id,
            "record_id": record_id,
            "cd_operation": cd_operation,
            "cd_time": cd_time,
            "cd_batch": cd_batch,
            "errors": [{"field": e.get("field", ""), "reason": e.get("reason", "")} for e in (entry.errors or [])],
            "updated_at": entry.updated_at,
        }
        for entry, record_id, cd_operation, cd_time, cd_batch in rows
    ]


def requeue(session: Session, *, entry_ids: list[int] | None = None, states=REQUEUE_STATES) -> int:
    """Give rejected and dead versions another chance (see the module docstring); returns how many."""

    write_transaction(session)
    query = select(OutboxEntry).where(OutboxEntry.state.in_(tuple(states)))
    if entry_ids is not None:
        query = query.where(OutboxEntry.id.in_(list(entry_ids)))
    entries = session.scalars(query.order_by(OutboxEntry.id)).all()
    batch_ids = {e.batch_id for e in entries if e.state == OutboxState.DEAD and e.batch_id is not None}
    count = 0
    for batch_id in sorted(batch_ids):
        count += _revive_batch(session, batch_id)
    for entry in entries:
        if entry.state == OutboxState.REJECTED:
            count += _rewrite_rejected(session, entry)
    if count:
        audit(session, "sync.requeue", detail={"versions": count, "batches": len(batch_ids)})
        log_event("sync.requeue", versions=count, batches=len(batch_ids))
    return count


def _revive_batch(session: Session, batch_id: int) -> int:
    """Put a dead or refused batch back to ready, unchanged, with its members."""
    batch = session.get(SyncBatch, batch_id)
    if batch is None or batch.state not in (BatchState.DEAD, BatchState.REFUSED):
        return 0
    batch.state = BatchState.READY
    batch.attempts = 0
    batch.next_attempt_at = utcnow()
    batch.lease_owner = None
    batch.lease_expires_at = None
    result = session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.batch_id == batch_id, OutboxEntry.state == OutboxState.DEAD)
        .values(state=OutboxState.BATCHED, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0)


def _rewrite_rejected(session: Session, entry: OutboxEntry) -> int:
    """Write a fresh version of the record from the card as it is now; the old entry is superseded.

    Returns 0 (entry left rejected) when the card still cannot make a valid record.
    """

    version = session.get(AuthRecord, entry.auth_record_id)
    newer = session.scalar(
        select(func.count()).select_from(AuthRecord)
        .where(AuthRecord.record_id == version.record_id, AuthRecord.version > version.version)
    )
    if not newer:
        card = session.get(EHealthCard, version.card_id)
        try:
            with session.begin_nested():
                record_card_version(session, card, "d" if card.status == "cancelled" else "u")
        except RecordInvalid:
            return 0
    entry.state = OutboxState.SUPERSEDED
    entry.updated_at = utcnow()
    return 1
