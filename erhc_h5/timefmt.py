"""Time for people: the Beijing zone and its formats, in one place.

The database keeps naive UTC (``db.utcnow``); what a resident, nurse, operator or the province
reads is Beijing time (UTC+8, no daylight saving). ``create_app`` registers ``beijing`` as the
template filter.
"""
from __future__ import annotations

import datetime as dt

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
SECONDS = "%Y-%m-%d %H:%M:%S"
MINUTES = "%Y-%m-%d %H:%M"


def to_beijing(moment: dt.datetime) -> dt.datetime:
    """A naive-UTC (or aware) moment as an aware Beijing time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(BEIJING)


def beijing_now() -> dt.datetime:
    return dt.datetime.now(BEIJING).replace(microsecond=0)


def fmt(moment: dt.datetime | None, pattern: str = SECONDS) -> str | None:
    """A naive-UTC moment as Beijing time text; None stays None."""
    return to_beijing(moment).strftime(pattern) if moment is not None else None


def utc_from_beijing_date(day: dt.date) -> dt.datetime:
    """The naive-UTC moment at which a Beijing calendar day begins."""
    return dt.datetime.combine(day, dt.time(), BEIJING).astimezone(dt.UTC).replace(tzinfo=None)


PATTERNS = {"minutes": MINUTES, "seconds": SECONDS}


def beijing_filter(value, pattern: str = "minutes") -> str:
    """Template filter: every time a page shows goes through it. ``{{ moment | beijing }}`` (minutes),
    ``{{ moment | beijing("seconds") }}`` or a strftime pattern; None is empty."""
    return fmt(value, PATTERNS.get(pattern, pattern)) or ""
