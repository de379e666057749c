"""Versions of the 5.2.2 real-name authentication record, one chain per e-health card."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from erhc_h5.db import Base, utcnow
from erhc_h5.security.pii import EncryptedJSON


class AuthRecord(Base):
    """One immutable version of a card's record, exactly as it goes upward (less cd_batch)."""

    __tablename__ = "auth_records"
    __table_args__ = (UniqueConstraint("record_id", "version", name="uq_auth_records_record_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[str] = mapped_column(String(32), index=True)  # the 5.2.2 "id"
    version: Mapped[int] = mapped_column(Integer)
    card_id: Mapped[int] = mapped_column(ForeignKey("ehealth_cards.id"), index=True)
    cd_operation: Mapped[str] = mapped_column(String(1))
    cd_time: Mapped[str] = mapped_column(String(19))
    recognize_flag: Mapped[int] = mapped_column(Integer)
    authentication_method: Mapped[str] = mapped_column(String(12), default="")
    app_record_no: Mapped[str] = mapped_column(String(20))
    # All 25 fields but cd_batch (filled when the version joins a batch), encrypted.
    payload: Mapped[dict] = mapped_column(EncryptedJSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
