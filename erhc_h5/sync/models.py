"""The outbox of record versions, the batches they travel in, and the sandbox receiver's books."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erhc_h5.db import Base, utcnow



class OutboxState(StrEnum):
    """Where a record version stands on its way upward (``outbox_entries.state``)."""

    PENDING = "pending"  # written with the change, not yet in a batch
    BATCHED = "batched"  # a member of a batch still to be answered for
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # the province named its errors; waits for ops (``sync requeue``)
    DEAD = "dead"  # its batch ran out of attempts or was refused
    SUPERSEDED = "superseded"  # a fresh version of the record replaced it


class BatchState(StrEnum):
    """Where a cd_batch stands (``sync_batches.state``)."""

    READY = "ready"  # due at ``next_attempt_at``
    SENDING = "sending"  # leased by a worker
    DONE = "done"
    REFUSED = "refused"  # a batch-level refusal (400/401/413)
    DEAD = "dead"  # out of attempts


OUTBOX_STATES = tuple(OutboxState)
BATCH_STATES = tuple(BatchState)
# Still to go upward: counted as the backlog.
WAITING_STATES = (OutboxState.PENDING, OutboxState.BATCHED)
# Waiting for ops: what ``sync requeue`` gives another chance.
REQUEUE_STATES = (OutboxState.REJECTED, OutboxState.DEAD)


class OutboxEntry(Base):
    """One record version waiting to go, or gone, upward; written with the change that made it."""

    __tablename__ = "outbox_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    auth_record_id: Mapped[int] = mapped_column(ForeignKey("auth_records.id"), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING.value, index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("sync_batches.id"), nullable=True, index=True)
    errors: Mapped[list | None] = mapped_column(JSON, nullable=True)  # [{"field", "reason"}]
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    auth_record = relationship("AuthRecord")
    batch = relationship("SyncBatch", back_populates="entries")


class SyncBatch(Base):
    """A cd_batch: fixed membership, resent unchanged until the province answers for it."""

    __tablename__ = "sync_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    cd_batch: Mapped[str] = mapped_column(String(20), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=BatchState.READY.value, index=True)
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(String(64), default="")
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    entries = relationship("OutboxEntry", back_populates="batch")


class SyncAttempt(Base):
    """One HTTP attempt at sending a batch (for ops: batches per hour, failures by reason)."""

    __tablename__ = "sync_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("sync_batches.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    outcome: Mapped[str] = mapped_column(String(32))  # ok | refused | worker_error | transient reason code
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    elapsed_ms: Mapped[int] = mapped_column(Integer, default=0)
    # What went wrong in transport terms (e.g. "declared 419430400 bytes > 4194304"); never reply text.
    detail: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The province's clock minus ours, from the reply's Date header (None: no reply or no header).
    clock_offset_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
