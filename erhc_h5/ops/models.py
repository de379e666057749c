"""The readiness probe's own table."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column

from erhc_h5.db import Base, utcnow


class ReadinessProbe(Base):
    """Emptied and given one row by every readiness probe, in one transaction: emptying gives the
    table a new, empty file, so the row must extend it by a page, which a full disk refuses (a
    write into free space of existing pages, or into the current WAL segment, still succeeds)."""

    __tablename__ = "readiness_probes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
