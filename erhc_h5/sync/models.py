"""The outbox of record versions, the batches they travel in, and the sandbox receiver's books."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erhc_h5.db import Base, utcnow

OUTBOX_STATES = ("pending", "batched", "accepted", "rejected", "dead", "superseded")
BATCH_STATES = ("ready", "sending", "done", "refused", "dead")


class OutboxEntry(Base):
    """One record version waiting to go, or gone, upward; written with the change that made it."""

    __tablename__ = "outbox_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    auth_record_id: Mapped[int] = mapped_column(ForeignKey("auth_records.id"), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
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
    state: Mapped[str] = mapped_column(String(16), default="ready", index=True)
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
