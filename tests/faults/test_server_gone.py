"""PostgreSQL closes the pooled connections (restart, failover, an idle cut): a connection idle for
a while is pinged and replaced before use; one used moments ago fails once with a 503, and the
scans after it work. Never a 500, never a scan half-written."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from erhc_h5 import db as db_module
from erhc_h5.db import get_db, session_scope
from erhc_h5.scan.models import ScanEvent
from tests.code.helpers import post_scan, seed_with_card


@pytest.fixture
def pg_app(fresh_app):
    if get_db(fresh_app).engine.dialect.name != "postgresql":
        pytest.skip("needs ERHC_TEST_DATABASE_URL on PostgreSQL")
    seeded, _, _, codes = seed_with_card(fresh_app, codes=4)
    return fresh_app, seeded["device_token"], codes


def _scan(app, token, code):
    return post_scan(app.test_client(), token, code)


def _terminate_backends(app) -> int:
    name = make_url(app.config["DATABASE_URL"]).database
    admin = create_engine(make_url(app.config["DATABASE_URL"]).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                         "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name}).all())
    finally:
        admin.dispose()


def _events(app) -> int:
    with app.app_context(), session_scope() as s:
        return s.scalar(select(func.count()).select_from(ScanEvent))


def test_an_idle_connection_is_pinged_and_replaced(pg_app, monkeypatch):
    app, token, codes = pg_app
    assert _scan(app, token, codes[0]).status_code == 200
    assert _terminate_backends(app) >= 1
    monkeypatch.setattr(db_module, "PING_IDLE_SECONDS", 0.0)  # every pooled connection counts as idle
    assert _scan(app, token, codes[1]).status_code == 200
    assert _events(app) == 2


def test_a_connection_used_moments_ago_fails_once_with_a_503(pg_app):
    app, token, codes = pg_app
    assert _scan(app, token, codes[0]).status_code == 200
    assert _terminate_backends(app) >= 1
    gone = _scan(app, token, codes[1])  # not pinged: it was checked in under PING_IDLE_SECONDS ago
    assert gone.status_code == 503 and gone.get_json()["error"] == "database_unavailable"
    assert gone.headers["Retry-After"]
    again = _scan(app, token, codes[1])
    assert again.status_code == 200 and again.get_json()["result"] == "authenticated"
    assert _events(app) == 2  # the failed scan wrote nothing
