"""Serialise SQLite writers across worker processes and threads (``erhc_h5.db.WriterLock``).

SQLite's own busy handler polls with sleeps of up to 100 ms, so two gunicorn workers inserting
scan events at once lose whole milliseconds per collision; the writer lock wakes the waiter at
once. On PostgreSQL (and an in-memory SQLite database) this is a no-op.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from erhc_h5.db import get_db


@contextmanager
def sqlite_write_lock() -> Iterator[None]:
    lock = get_db().writer_lock
    if lock is None:
        yield
        return
    with lock.held():
        yield
