"""The ops services own their transactions: the readiness probe's write and the requeue."""
from __future__ import annotations

import sqlite3

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from erhc_h5.audit import AuditEntry
from erhc_h5.ops import services
from erhc_h5.resident.models import RateCounter
from tests.factories import audit_entry


def test_the_readiness_probe_commits_its_write(db_session):
    assert services.probe_write(db_session) == "ok"
    db_session.rollback()  # a commit survives it
    assert db_session.get(RateCounter, "readyz:probe").count == 1
    assert services.probe_write(db_session) == "ok"
    db_session.rollback()
    db_session.expire_all()
    assert db_session.get(RateCounter, "readyz:probe").count == 2


def test_a_refused_probe_write_is_rolled_back_and_named(db_session, monkeypatch):
    def refuse(session, *args):
        audit_entry(session, "test.probe_half_written")
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("attempt to write a readonly database"))

    monkeypatch.setattr(services, "take", refuse)
    assert services.probe_write(db_session) == "read_only"
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "test.probe_half_written")) is None


def test_a_requeue_is_audited_and_committed(db_session):
    assert services.requeue(db_session, None, staff_id=7) == 0
    db_session.rollback()
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "ops.requeue"))
    assert entry is not None and entry.actor_id == "7" and entry.detail == {"versions": 0}
