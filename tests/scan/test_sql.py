"""The scan's driver-level transaction: commits, rolls back, raises SQLAlchemy's errors, and writes
what SQLAlchemy would write (on a fresh migrated database, real commits)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, text

from erhc_h5.db import get_db, session_scope
from erhc_h5.scan.models import ScanEvent
from erhc_h5.scan.sql import driver_transaction, statements_for
from tests.code.helpers import post_scan, seed_with_card


def _events(app) -> int:
    with app.app_context(), session_scope() as s:
        return s.scalar(select(func.count()).select_from(ScanEvent))


def test_a_block_that_ends_normally_commits(fresh_app):
    """SQLite: one transaction, rolled back when the block raises. PostgreSQL: each statement
    commits by itself (the scan's statements are whole alone), so a write before the failure stays."""
    engine = get_db(fresh_app).engine
    insert = "INSERT INTO scan_events (at, site_name, result) VALUES ('2026-11-28 08:00:00.000000', 'x', %s)"
    insert = insert % ("?" if engine.dialect.name == "sqlite" else "%s")
    with fresh_app.app_context():
        with driver_transaction(engine) as cursor:
            cursor.execute(insert, ("malformed",))
        with pytest.raises(RuntimeError):
            with driver_transaction(engine) as cursor:
                cursor.execute(insert, ("expired",))
                raise RuntimeError("the request failed after its write")
    expected = ["malformed"] if engine.dialect.name == "sqlite" else ["malformed", "expired"]
    with engine.connect() as conn:  # the pooled connection came back without an open transaction
        assert conn.execute(text("SELECT result FROM scan_events ORDER BY id")).scalars().all() == expected
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_a_lost_claim_writes_no_event(fresh_app):
    """Claim and event go in together or not at all: when another scanner holds the code, nothing
    of this scanner's acceptance is written."""
    engine = get_db(fresh_app).engine
    at = dt.datetime(2026, 11, 28, 8, 0, 0)
    event = {"at": at, "device_id": None, "staff_user_id": None, "terminal": None, "site_name": "A", "card_id": None,
             "result": "authenticated", "token_fingerprint": "f" * 64, "voucher_no": "JZ20261128AAAAAAAAAA"}
    with fresh_app.app_context():
        statements = statements_for(engine.dialect)
        with driver_transaction(engine) as cursor:
            assert statements.claim_and_record(cursor, event) is True
        with driver_transaction(engine) as cursor:
            assert statements.claim_and_record(cursor, {**event, "site_name": "B", "voucher_no": "JZ20261128BBBBBBBBBB"}) is False
    with engine.connect() as conn:
        assert conn.execute(text("SELECT site_name, voucher_no FROM scan_events")).all() == [("A", "JZ20261128AAAAAAAAAA")]
        assert conn.execute(text("SELECT count(*) FROM scan_token_claims")).scalar() == 1


def test_driver_errors_surface_as_sqlalchemy_errors(fresh_app):
    """The app answers SQLAlchemy's OperationalError with a 503 and never shows a driver's error."""
    engine = get_db(fresh_app).engine
    with fresh_app.app_context():
        with pytest.raises(sa_exc.OperationalError if engine.dialect.name == "sqlite" else sa_exc.ProgrammingError):
            with driver_transaction(engine) as cursor:
                cursor.execute("SELECT * FROM no_such_table")
        with pytest.raises(sa_exc.IntegrityError):
            with driver_transaction(engine) as cursor:
                cursor.execute("INSERT INTO scan_token_claims (token_fingerprint, at) VALUES ('f', '2026-11-28 08:00:00')")
                cursor.execute("INSERT INTO scan_token_claims (token_fingerprint, at) VALUES ('f', '2026-11-28 08:00:00')")
        with driver_transaction(engine) as cursor:  # no lock left behind; on SQLite, no claim either
            cursor.execute("SELECT count(*) FROM scan_token_claims")
            assert cursor.fetchone()[0] == (0 if engine.dialect.name == "sqlite" else 1)


def test_a_scan_event_reads_back_as_the_orm_writes_it(fresh_app):
    seeded, card, _, (code,) = seed_with_card(fresh_app)
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    answer = post_scan(fresh_app.test_client(), seeded["device_token"], code)
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert answer.status_code == 200
    with fresh_app.app_context(), session_scope() as s:
        event = s.scalars(select(ScanEvent)).one()
        assert before - dt.timedelta(seconds=1) <= event.at <= after
        assert (event.card_id, event.result, event.voucher_no) == (card.id, "authenticated", answer.json["voucher_no"])
        if get_db(fresh_app).is_sqlite:  # SQLAlchemy's SQLite storage format, microseconds always written
            stored = s.scalar(text("SELECT CAST(at AS TEXT) FROM scan_events"))
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", stored), stored
