"""The sandbox province's own books: the record versions it accepted, the request nonces it has seen,
and the filing applications cities delivered with its decisions."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from erhc_h5.db import Base, utcnow
from erhc_h5.security.pii import EncryptedJSON

APPLICATION_STATES = {"received": "待审批", "approved": "已批准", "rejected": "不予批准"}


class SandboxProvinceFiling(Base):
    """An application (《备案申请表》) a city delivered, and what the provincial reviewer decided."""

    __tablename__ = "sandbox_province_filings"

    id: Mapped[int] = mapped_column(primary_key=True)
    cd_source: Mapped[str] = mapped_column(String(12), index=True)
    city_filing_id: Mapped[int] = mapped_column(Integer, index=True)
    city_delivery_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    form: Mapped[dict] = mapped_column(JSON)  # the §5.1 form fields as delivered
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decision_no: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    app_filing_no: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    access_code: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    opinion: Mapped[str] = mapped_column(Text, default="")
    decided_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    # what the city answered to the decision call: "" (not sent), "recorded", "already_recorded", or a reason
    city_reply: Mapped[str] = mapped_column(String(64), default="")

    @property
    def status_label(self) -> str:
        return APPLICATION_STATES.get(self.status, self.status)


class ProvinceRecord(Base):
    """The sandbox provincial receiver's copy of each record version it accepted."""

    __tablename__ = "sandbox_province_records"
    __table_args__ = (UniqueConstraint("record_id", "cd_time", "cd_operation", name="uq_sandbox_province_records_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[str] = mapped_column(String(32), index=True)
    cd_time: Mapped[str] = mapped_column(String(19))
    cd_operation: Mapped[str] = mapped_column(String(1))
    cd_batch: Mapped[str] = mapped_column(String(20), index=True)
    cd_source: Mapped[str] = mapped_column(String(12))
    payload: Mapped[dict] = mapped_column(EncryptedJSON)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class ProvinceNonce(Base):
    """A request nonce the sandbox receiver has seen."""

    __tablename__ = "sandbox_province_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
