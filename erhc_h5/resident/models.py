"""Residents' e-health cards, their app identities and verification sessions."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erhc_h5.db import Base, utcnow
from erhc_h5.resident.states import NoticeState, VerificationState
from erhc_h5.security.pii import EncryptedJSON, EncryptedText


class EHealthCard(Base):
    """One resident's e-health card in this city: identity, profile and real-name status."""

    __tablename__ = "ehealth_cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    erhc_card_no: Mapped[str] = mapped_column(String(64), unique=True)
    empi: Mapped[str] = mapped_column(String(64), unique=True)
    id_card_type_code: Mapped[str] = mapped_column(String(2))
    idcode: Mapped[str] = mapped_column(EncryptedText)
    idcode_bidx: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(EncryptedText)
    sex: Mapped[str] = mapped_column(String(2))
    nation: Mapped[str | None] = mapped_column(String(2), nullable=True)
    nationality: Mapped[str | None] = mapped_column(String(3), nullable=True)
    birthday: Mapped[str] = mapped_column(String(10))
    address: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    phone: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    phone_bidx: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    linkman: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    telephone: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    birthplace: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    county_code: Mapped[str | None] = mapped_column(String(12), nullable=True)
    current_address: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    recognize_flag: Mapped[int] = mapped_column(Integer, default=0)
    authentication_method: Mapped[str] = mapped_column(String(12), default="")
    authenticated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Assurance (README, "Binding a person to a card"): the highest level the card's passed checks
    # reached (two-factor 1, three-factor 2, face 3, on-site 4), the level that proved the current
    # phone (2: an SMS code to it and the carrier's record; 0: typed, unproven) and the level of the
    # check that supplied the current profile (0: typed for a registration awaiting its check).
    assurance_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    phone_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    profile_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The app through which the resident last authenticated (its codes go into the record).
    app_id: Mapped[int | None] = mapped_column(ForeignKey("filed_apps.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | cancelled
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    app = relationship("FiledApp", lazy="joined")

    @property
    def is_authenticated(self) -> bool:
        return self.recognize_flag == 1 and self.status == "active"


CARD_LINK_VERIFIED = "verified"
CARD_LINK_PROVISIONAL = "provisional"


class AppUser(Base):
    """A user of a filed app, as the app identifies them; linked to a card once known.

    A link made by a passed check is ``verified`` and lasting. A registration that awaits its check
    (on-site) links ``provisional``ly to an unauthenticated card; that link ends when the person
    passes in any session, and never shows an authenticated code.
    """

    __tablename__ = "app_users"
    __table_args__ = (UniqueConstraint("app_id", "app_user_id", name="uq_app_users_app_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("filed_apps.id"))
    app_user_id: Mapped[str] = mapped_column(String(128))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("ehealth_cards.id"), nullable=True, index=True)
    card_link: Mapped[str | None] = mapped_column(String(12), nullable=True)
    # The level of the check that made a verified link; below the card's level the link may show the
    # code but neither change the card's proven data nor cancel it.
    link_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Carried in every resident session cookie of this user: raising it ends them all at once.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    card = relationship("EHealthCard")
    app = relationship("FiledApp")


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


class LinkNotice(Base):
    """An SMS to a card's proven phone that an app account was linked to the card (sent after commit)."""

    __tablename__ = "link_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("ehealth_cards.id"), index=True)
    app_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_users.id"), nullable=True)
    phone: Mapped[str] = mapped_column(EncryptedText)
    params: Mapped[dict] = mapped_column(EncryptedJSON)
    state: Mapped[str] = mapped_column(String(12), default=NoticeState.PENDING.value, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
