"""The bulk insert helper: what it writes reads back through the ORM, decrypted; a clear
personal value never reaches the database; on PostgreSQL the same through COPY."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from erhc_h5.security.pii import seal_json
from erhc_h5.sync.bulkwrite import executemany
from erhc_h5.sandbox.models import ProvinceRecord


def test_rows_read_back_through_the_orm(app, db_session):
    when = dt.datetime(2026, 11, 28, 12, 0, 0, 123456)
    payloads = [{"id": f"{i:032x}", "name": "张三", "note": "引号\"和\\反斜杠\t制表"} for i in range(3)]
    rows = [{"record_id": p["id"], "cd_time": "2026-11-28 12:00:00", "cd_operation": "i",
             "cd_batch": "3301202611281200001", "cd_source": "3301", "payload": seal_json(p), "received_at": when}
            for p in payloads]
    executemany(db_session, ProvinceRecord.__table__, rows)
    db_session.flush()
    got = db_session.scalars(select(ProvinceRecord).where(ProvinceRecord.cd_batch == "3301202611281200001")
                             .order_by(ProvinceRecord.record_id)).all()
    assert [r.payload for r in got] == payloads
    assert [r.received_at for r in got] == [when] * 3
    raw = db_session.execute(text("SELECT payload FROM sandbox_province_records WHERE cd_batch = '3301202611281200001'")).scalars().all()
    assert all("张三" not in value and value.startswith(("s", "a")) for value in raw)
    db_session.rollback()


def test_a_clear_personal_value_is_refused(app, db_session):
    row = {"record_id": "f" * 32, "cd_time": "2026-11-28 12:00:00", "cd_operation": "i", "cd_batch": "3301202611281200002",
           "cd_source": "3301", "payload": {"name": "张三"}, "received_at": dt.datetime(2026, 11, 28)}
    with pytest.raises(TypeError):
        executemany(db_session, ProvinceRecord.__table__, [row])
    db_session.rollback()
    assert db_session.scalar(select(ProvinceRecord).where(ProvinceRecord.cd_batch == "3301202611281200002")) is None


def test_a_duplicate_version_is_an_integrity_error_as_sqlalchemy_raises_it(app, db_session):
    """The receiver answers 503 'conflict' on sqlalchemy's IntegrityError; COPY must raise the same."""
    from sqlalchemy.exc import IntegrityError

    row = {"record_id": "e" * 32, "cd_time": "2026-11-28 12:00:00", "cd_operation": "i", "cd_batch": "3301202611281200003",
           "cd_source": "3301", "payload": seal_json({"id": "e" * 32}), "received_at": dt.datetime(2026, 11, 28)}
    with pytest.raises(IntegrityError):
        executemany(db_session, ProvinceRecord.__table__, [row, dict(row)])
    db_session.rollback()
    assert db_session.scalar(select(ProvinceRecord).where(ProvinceRecord.cd_batch == "3301202611281200003")) is None
