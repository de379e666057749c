"""The e-health card, the app accounts linked to it, and the notices of new links.

One card per person in this city (keyed by the person key ``empi``); an app account (``AppUser``) is
linked to at most one card, provisionally while a registration awaits its check or lastingly after a
pass, at the level of the check that made the link."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erhc_h5.db import Base, utcnow
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


class NoticeState(StrEnum):
    """Where an account-link SMS notice stands (``link_notices.state``)."""

    PENDING = "pending"  # queued, or its last attempt failed with tries left
    SENDING = "sending"  # claimed by one sender; taken again once stale
    SENT = "sent"
    FAILED = "failed"  # out of attempts


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
