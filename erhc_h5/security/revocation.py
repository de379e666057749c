"""The revocation counter: one row whose number rises in every transaction that ends a credential
(a code-signing key rotated or revoked, a scan device revoked).

Worker processes cache signing keys and devices. Each cached value is tagged with the counter as
it was read *before* the value was loaded, and a value is used only while its tag equals the
counter read by the request using it. A request that reads the counter after a revocation committed
therefore loads the revoked row again, in every worker: there is no cache lifetime to wait out.
Reading the counter is one primary-key SELECT of a one-row table (the scan reads it in its own
transaction, on its own cursor: ``scan.sql``).
"""
from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import BigInteger, Integer, insert, literal_column, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from erhc_h5.db import Base

ROW_ID = 1


class RevocationCounter(Base):
    """The one row (id 1) whose ``version`` rises with each revocation."""

    __tablename__ = "revocation_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


# The row id is written into the SQL (no parameter): the scan runs it compiled, on a bare cursor.
CURRENT = select(RevocationCounter.version).where(RevocationCounter.id == literal_column(str(ROW_ID)))


def bump(session: Session) -> None:
    """Raise the counter in the caller's transaction (parallel revocations queue on the row)."""
    done = session.execute(update(RevocationCounter).where(RevocationCounter.id == ROW_ID)
                           .values(version=RevocationCounter.version + 1))
    if done.rowcount == 0:  # a database migrated without the row: the first revocation makes it
        session.execute(insert(RevocationCounter).values(id=ROW_ID, version=1))


def read(db: Session | Connection) -> int:
    """The counter now (as the caller's transaction sees it); noted as this process's newest."""
    version = db.execute(CURRENT).scalar() or 0
    note(version)
    return version


def known(app: Flask | None = None) -> int | None:
    """The counter as this process last read it (None before its first read): the tag of values
    loaded now. It may be stale; a request compares its tags with a counter it read itself."""
    return (app or current_app).extensions.get("erhc_revocation_known")


def note(version: int, app: Flask | None = None) -> None:
    """Remember a counter this process read (the counter only rises: an older read, noted late by
    a slower thread, is ignored)."""
    extensions = (app or current_app).extensions
    if version > extensions.get("erhc_revocation_known", -1):
        extensions["erhc_revocation_known"] = version
