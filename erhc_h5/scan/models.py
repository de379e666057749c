"""Scan devices at vaccination sites, the audit of every scan, and the province verification's nonces."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from erhc_h5.db import Base, utcnow


class ScanDevice(Base):
    """An enrolled scanner; only the SHA-256 of its bearer token is stored."""

    __tablename__ = "scan_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    site_name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_hint: Mapped[str] = mapped_column(String(8), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class ScanEvent(Base):
    """One scan: where, when, by what, with which result; never the code text."""

    __tablename__ = "scan_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("scan_devices.id"), nullable=True, index=True)
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    site_name: Mapped[str] = mapped_column(String(100), default="")
    card_id: Mapped[int | None] = mapped_column(ForeignKey("ehealth_cards.id"), nullable=True, index=True)
    result: Mapped[str] = mapped_column(String(32))  # authenticated | not_authenticated | reason code
    token_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    voucher_no: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    # The provincial platform's scanner id, for a province verification (device and staff user empty).
    terminal: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ScanTokenClaim(Base):
    """The first scanner to accept a code; its primary key makes the claim atomic, so one code
    shown to two scanners at once is accepted by one of them only."""

    __tablename__ = "scan_token_claims"

    token_fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[int | None] = mapped_column(nullable=True)
    staff_user_id: Mapped[int | None] = mapped_column(nullable=True)
    terminal: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class ProvinceVerifyNonce(Base):
    """A nonce of a signed province verification request; its primary key makes each one single
    use, so a replay racing the first use is refused by the database."""

    __tablename__ = "province_verify_nonces"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
