"""This server's clock against the province's: the latest offset measured from an upload reply's
Date header (kept on the attempt), and its wording for operators and nurses."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.sync.models import SyncAttempt


@dataclass(frozen=True)
class ClockOffset:
    """The province's clock minus ours (seconds), and when it was measured (naive UTC)."""

    seconds: float
    measured_at: dt.datetime


def latest_offset(session: Session) -> ClockOffset | None:
    """The newest measured offset, or None before any reply carried a Date header."""
    row = session.execute(
        select(SyncAttempt.clock_offset_seconds, SyncAttempt.at)
        .where(SyncAttempt.clock_offset_seconds.is_not(None))
        .order_by(SyncAttempt.at.desc(), SyncAttempt.id.desc()).limit(1)
    ).first()
    return ClockOffset(float(row[0]), row[1]) if row else None


def amount(seconds: float) -> str:
    """``约N分钟`` from a minute on, else ``约N秒``."""
    seconds = abs(seconds)
    return f"约{round(seconds / 60)}分钟" if seconds >= 90 else f"约{round(seconds)}秒"


def describe(offset_seconds: float) -> str:
    """This server's clock in words: a positive offset (the province ahead) means ours is slow."""
    direction = "慢" if offset_seconds > 0 else "快"
    return f"本服务器时钟比省级平台{direction}{amount(offset_seconds)}"
