"""The resident journey's stored state: verification sessions, their counted events and rate counters.

The card, its links to app accounts and their notices are ``erhc_h5/cards/models.py``."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from erhc_h5.db import Base, utcnow
from erhc_h5.resident.states import VerificationState
from erhc_h5.security.pii import EncryptedJSON


VERIFICATION_STATES = tuple(VerificationState)


class VerificationSession(Base):
    """One attempt to prove a resident's identity by a method; a stored state machine."""

    __tablename__ = "verification_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_users.id"), nullable=True, index=True)
    app_id: Mapped[int | None] = mapped_column(ForeignKey("filed_apps.id"), nullable=True, index=True)
    method: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(20), default=VerificationState.CREATED.value, index=True)
    consent_version: Mapped[str] = mapped_column(String(32), default="")
    subject_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    phone_bidx: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    ip_hash: Mapped[str] = mapped_column(String(64), default="")
    # Identity and profile captured so far, encrypted; discarded once the card is written.
    payload: Mapped[dict | None] = mapped_column(EncryptedJSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set while a check of this session is at the provider: one check at a time per session.
    check_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    otp_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    otp_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    otp_sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    otp_attempts: Mapped[int] = mapped_column(Integer, default=0)
    onsite_code: Mapped[str | None] = mapped_column(String(12), nullable=True, index=True)
    onsite_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    provider_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    failure_reason: Mapped[str] = mapped_column(String(64), default="")
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    confirm_note: Mapped[str] = mapped_column(Text, default="")
    card_id: Mapped[int | None] = mapped_column(ForeignKey("ehealth_cards.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class VerificationEvent(Base):
    """A counted event for the journey's limits: a failed check or an SMS sent (keyed hashes only)."""

    __tablename__ = "verification_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # failure | sms_sent
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    session_id: Mapped[str] = mapped_column(String(32), default="")
    subject_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    phone_bidx: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    ip_hash: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(String(64), default="")


class RateCounter(Base):
    """An atomic counter per key (a person's guesses, a phone's SMS) in a fixed window."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
