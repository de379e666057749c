"""Signing keys of the dynamic health code (rotated; old keys verify until their codes expire)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from erhc_h5.db import Base, utcnow
from erhc_h5.security.pii import EncryptedText


class CodeSigningKey(Base):
    """One signing key; the newest active key signs new codes."""

    __tablename__ = "code_signing_keys"

    kid: Mapped[str] = mapped_column(String(8), primary_key=True)
    secret: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
