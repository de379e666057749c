"""Signing keys of the dynamic health code (rotated: old keys verify the codes they issued until
those expire; revoked: their codes are refused at once)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from erhc_h5.db import Base, utcnow
from erhc_h5.security.pii import EncryptedText


class CodeSigningKey(Base):
    """One signing key; the newest active key signs new codes. A retired key verifies the codes it
    signed before ``retired_at``; a revoked key (leaked) verifies nothing."""

    __tablename__ = "code_signing_keys"

    kid: Mapped[str] = mapped_column(String(8), primary_key=True)
    secret: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class CardCodeRef(Base):
    """The opaque reference a card's codes carry instead of any card number or personal data."""

    __tablename__ = "code_card_refs"

    card_id: Mapped[int] = mapped_column(ForeignKey("ehealth_cards.id"), primary_key=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
