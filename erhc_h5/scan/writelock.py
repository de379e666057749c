"""Serialise SQLite writers across worker processes with a blocking file lock.

SQLite's own busy handler polls with sleeps of up to 100 ms, so two gunicorn workers inserting
scan events at once lose whole milliseconds per collision; a flock wakes the waiter at once.
On PostgreSQL this is a no-op.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import Iterator

from erhc_h5.db import get_db

_fds: dict[str, int] = {}


@contextmanager
def sqlite_write_lock() -> Iterator[None]:
    db = get_db()
    if not db.is_sqlite or db.engine.url.database in (None, "", ":memory:"):
        yield
        return
    path = db.engine.url.database + ".writelock"
    fd = _fds.get(path)
    if fd is None:
        fd = _fds[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
