"""Batches: pending outbox entries grouped under a cd_batch, and the exact body each batch sends.

A batch's membership and cd_batch are fixed when it is made; ``batch_body`` rebuilds the same
bytes from the stored versions every time, so a resend is identical apart from the headers.
One batch never holds two versions of the same record (the reply speaks per record id); a later
version waits for the next batch.
"""
from __future__ import annotations

import json

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from erhc_h5.db import is_sqlite_lock_conflict, utcnow, write_transaction
from erhc_h5.records.models import AuthRecord
from erhc_h5.records.standard import FIELD_NAMES
from erhc_h5.sync.models import BatchState, OutboxEntry, OutboxState, SyncBatch
from erhc_h5.timefmt import beijing_now

MAX_SERIAL = 999


class BatchNumbersExhausted(RuntimeError):
    """All 999 serials of this minute are taken; batching resumes next minute."""


class BatchConflict(RuntimeError):
    """Another worker batched some of the same entries first; roll back and try again."""


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _new_batch(session: Session, cd_source: str) -> SyncBatch:
    """Insert a batch under the next free serial of this Beijing minute (collisions → next serial)."""
    prefix = f"{cd_source}{beijing_now():%Y%m%d%H%M}"
    last = session.scalar(select(func.max(SyncBatch.cd_batch)).where(SyncBatch.cd_batch.like(prefix + "%")))
    serial = int(last[-3:]) + 1 if last else 1
    while serial <= MAX_SERIAL:
        batch = SyncBatch(cd_batch=f"{prefix}{serial:03d}", state=BatchState.READY, record_count=0, attempts=0,
                          next_attempt_at=utcnow())
        try:
            with session.begin_nested():
                session.add(batch)
                session.flush()
            return batch
        except IntegrityError:
            serial += 1
    raise BatchNumbersExhausted(prefix)


def make_batch(session: Session, size: int | None = None) -> SyncBatch | None:
    """Group up to ``size`` pending entries into a new batch (caller commits); None if nothing waits."""
    size = int(size or current_app.config["SYNC_BATCH_SIZE"])
    write_transaction(session)
    query = (
        select(OutboxEntry.id, AuthRecord.record_id)
        .join(AuthRecord, AuthRecord.id == OutboxEntry.auth_record_id)
        .where(OutboxEntry.state == OutboxState.PENDING)
        .order_by(OutboxEntry.id)
        .limit(size)
    )
    if _is_postgres(session):
        query = query.with_for_update(of=OutboxEntry, skip_locked=True)
    chosen: list[int] = []
    seen: set[str] = set()
    for entry_id, record_id in session.execute(query).all():
        if record_id not in seen:
            seen.add(record_id)
            chosen.append(entry_id)
    if not chosen:
        return None
    batch = _new_batch(session, current_app.config["CD_SOURCE"])
    moved = 0
    for start in range(0, len(chosen), 500):
        part = chosen[start:start + 500]
        result = session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(part), OutboxEntry.state == OutboxState.PENDING)
            .values(state=OutboxState.BATCHED, batch_id=batch.id, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        moved += int(result.rowcount or 0)
    if moved != len(chosen):
        raise BatchConflict(batch.cd_batch)
    batch.record_count = moved
    return batch


def make_batches(app_session_factory, *, max_batches: int | None = None) -> int:
    """Batch everything pending, one committed transaction per batch; returns batches made."""
    made = 0
    while max_batches is None or made < max_batches:
        session: Session = app_session_factory()
        try:
            batch = make_batch(session)
            if batch is None:
                session.rollback()
                break
            session.commit()
            made += 1
        except (BatchConflict, IntegrityError):
            session.rollback()
        except BatchNumbersExhausted:
            session.rollback()
            break
        except OperationalError as exc:  # SQLite: another writer's snapshot won; try again
            session.rollback()
            if not is_sqlite_lock_conflict(exc):
                raise
        finally:
            session.close()
    return made


def batch_members(session: Session, batch_id: int) -> list[tuple[str, dict]]:
    """(record id, stored payload) of each version of a batch, in the fixed order they travel."""
    return [
        (record_id, payload)
        for record_id, payload in session.execute(
            select(AuthRecord.record_id, AuthRecord.payload)
            .join(OutboxEntry, OutboxEntry.auth_record_id == AuthRecord.id)
            .where(OutboxEntry.batch_id == batch_id)
            .order_by(OutboxEntry.id)
        ).all()
    ]


def batch_body(batch: SyncBatch, members: list[tuple[str, dict]]) -> bytes:
    """The UTF-8 JSON envelope of a batch; byte-identical for the same batch every time."""
    cd_batch = batch.cd_batch
    records = []
    for _record_id, payload in members:
        record = {name: payload.get(name) for name in FIELD_NAMES}
        record["cd_batch"] = cd_batch
        records.append(record)
    envelope = {"cd_batch": cd_batch, "cd_source": cd_batch[:4], "records": records}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
