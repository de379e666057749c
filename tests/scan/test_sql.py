"""The scan's driver-level transaction: commits, rolls back, raises SQLAlchemy's errors, and writes
what SQLAlchemy would write (on a fresh migrated database, real commits)."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, text

from erhc_h5 import demo
from erhc_h5.code import tokens
from erhc_h5.db import get_db, session_scope
from erhc_h5.scan.models import ScanEvent
from erhc_h5.scan.sql import driver_transaction
from tests.code.helpers import make_card


def _events(app) -> int:
    with app.app_context(), session_scope() as s:
        return s.scalar(select(func.count()).select_from(ScanEvent))


def test_a_block_that_ends_normally_commits_and_one_that_raises_leaves_nothing(fresh_app):
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
    assert _events(fresh_app) == 1
    with engine.connect() as conn:  # the pooled connection came back without an open transaction
        assert conn.execute(text("SELECT result FROM scan_events")).scalars().all() == ["malformed"]


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
        with driver_transaction(engine) as cursor:  # the failed ones left no claim and no lock behind
            cursor.execute("SELECT count(*) FROM scan_token_claims")
            assert cursor.fetchone()[0] == 0


def test_a_scan_event_reads_back_as_the_orm_writes_it(fresh_app):
    with fresh_app.app_context(), session_scope() as s:
        seeded = demo.seed(fresh_app, s)
        s.commit()
        card, _, _ = make_card(s, seeded, methods="2")
        code = tokens.issue(s, card.id).text
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    answer = fresh_app.test_client().post("/api/v1/scan", data=json.dumps({"code": code}), headers={
        "Authorization": f"Bearer {seeded['device_token']}", "Content-Type": "application/json"})
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert answer.status_code == 200
    with fresh_app.app_context(), session_scope() as s:
        event = s.scalars(select(ScanEvent)).one()
        assert before - dt.timedelta(seconds=1) <= event.at <= after
        assert (event.card_id, event.result, event.voucher_no) == (card.id, "authenticated", answer.json["voucher_no"])
        if get_db(fresh_app).is_sqlite:  # SQLAlchemy's SQLite storage format, microseconds always written
            stored = s.scalar(text("SELECT CAST(at AS TEXT) FROM scan_events"))
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", stored), stored
