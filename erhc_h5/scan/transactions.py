"""The scan's transactions: the console's on the request session, the scan API's and the province's
verification on a pooled driver connection of their own. Views call these and commit nothing."""
from __future__ import annotations

from contextlib import contextmanager

from flask import g
from sqlalchemy.engine import Engine

from erhc_h5.db import get_db, get_session, writing
from erhc_h5.scan.service import Scanner, scan
from erhc_h5.scan.sql import driver_transaction, session_cursor, statements_for
from erhc_h5.uow import unit_of_work


def _end_read_snapshot(session) -> None:
    """End a read transaction begun earlier in the request (session, user, device lookups), so the
    scan's own transaction begins fresh, with the write intent, inside the writer lock."""
    if session.in_transaction():
        session.commit()


def console_scan(session, text: str, scanner: Scanner):
    """The console's scan on the request session, committed: on SQLite the cross-process writer
    lock, then BEGIN IMMEDIATE (reads see the newest commit, the insert never waits on a stale
    snapshot); plain BEGIN on PostgreSQL. An exception rolls it back."""
    _end_read_snapshot(session)
    with writing(), unit_of_work(session):
        return scan(session, text, scanner)


class OnDemandSession:
    """The request session, made only when the device or signing-key cache has to be refilled
    (most scans need neither)."""

    def execute(self, *args, **kwargs):
        return get_session().execute(*args, **kwargs)

    def connection(self):
        return get_session().connection()


@contextmanager
def api_transaction():
    """The scan API's transaction and a driver cursor in it, committed when the block ends.

    In production sessions bind to the engine, and the scan takes a pooled driver connection of its
    own (``scan.sql``); tests bind sessions to an outer transaction, and the scan then runs in the
    request session's. On SQLite both hold the cross-process writer lock for the transaction only:
    the device, the key and the signature were checked before it."""
    if "db_session" in g:
        _end_read_snapshot(g.db_session)
    bind = get_db().factory.kw.get("bind")
    with writing():
        if isinstance(bind, Engine):
            with driver_transaction(bind) as cursor:
                yield statements_for(bind.dialect), cursor
            return
        with writing():
            session = get_session()
            conn = session.connection()
            yield statements_for(conn.dialect), session_cursor(conn)
            session.commit()
