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


def test_thirty_probes_at_once_all_take_their_write(fresh_app):
    """Thirty readiness probes released together (a load balancer and scrapers on every instance): each
    empties the probe table and writes its row in turn, none is refused by another's lock."""
    from sqlalchemy import text

    from erhc_h5.db import session_scope
    from erhc_h5.sandbox import demo
    from tests.support import in_parallel_sessions

    with fresh_app.app_context(), session_scope(fresh_app) as session:
        demo.seed(fresh_app, session)
    verdicts: list[str] = []
    errors = in_parallel_sessions(fresh_app, 30, lambda session: verdicts.append(services.probe_write(session)),
                                  timeout=60)
    assert not errors, errors
    assert verdicts == ["ok"] * 30, sorted(set(verdicts))
    with fresh_app.app_context(), session_scope(fresh_app) as session:
        assert session.execute(text("SELECT count(*) FROM readiness_probes")).scalar() == 1
        assert session.get(RateCounter, "readyz:probe").count == 30
