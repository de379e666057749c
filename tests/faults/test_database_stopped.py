"""PostgreSQL really stopped under a warm app: every layer's error is an outage, every route a 503.

A private PostgreSQL cluster (initdb in a temporary folder, its own port) serves an app until its
connection pool is warm; then the server is stopped with ``pg_ctl -m fast`` and the app is asked
again. Pooled connections are now dead sockets, so the errors come from every layer: the ORM, Core,
the raw driver connection the scan API uses, and the pool's checkout.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text

from erhc_h5.db import get_db, get_session, session_scope
from erhc_h5.resident.launch import make_launch_url
from erhc_h5.errors import is_database_outage
from tests.faults.clusters import private_cluster, warmed
from tests.factories import demo_app
from tests.support import IDENTITY, PROFILE, qr_texts

pytestmark = pytest.mark.slow


@pytest.fixture
def private_pg():
    yield from private_cluster()


@pytest.fixture
def warm_app(private_pg):
    yield from warmed(private_pg)


def _stop(private_pg) -> None:
    done = private_pg["stop"]()
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_layer_raises_an_outage_once_the_server_stopped(warm_app, private_pg):
    app = warm_app[0]
    _stop(private_pg)
    engine = get_db(app).engine
    layers = {
        "orm": lambda: get_session().execute(text("SELECT 1")),
        "core": lambda: engine.connect().execute(text("SELECT 1")),
        "driver": lambda: engine.raw_connection().cursor().execute("SELECT 1"),
    }
    with app.app_context():
        for name, call in layers.items():
            with pytest.raises(Exception) as caught:
                call()
            assert is_database_outage(caught.value), (name, type(caught.value))
            get_session().rollback()


def test_a_hundred_scans_and_journey_requests_answer_503_never_500(warm_app, private_pg):
    app, client, resident, auth, code = warm_app
    with app.app_context(), session_scope(app) as session:
        filed = demo_app(session)
        filed_no, secret = filed.app_filing_no, filed.launch_secret
        newcomer = app.test_client()  # a resident half-way through the journey when the database stops
        assert newcomer.get(make_launch_url(filed, "stopped-db-newcomer", secret)).status_code == 302
        assert newcomer.post("/h5/consent", data={"agree": "y"}).status_code == 302
    _stop(private_pg)
    steps = [
        lambda i: resident.get(("/h5/service", "/h5/code", "/h5/methods", "/h5/code/token.json")[i % 4]),
        lambda i: app.test_client().get(make_launch_url(filed_no, f"late-{i}", secret)),
        lambda i: newcomer.post("/h5/identity", data=IDENTITY),
        lambda i: newcomer.post("/h5/profile", data=PROFILE),
        lambda i: newcomer.get("/h5/methods"),
    ]
    statuses = []
    for i in range(100):
        statuses.append(client.post("/api/v1/scan", json={"code": code}, headers=auth).status_code)
        statuses.append(steps[i % len(steps)](i).status_code)
    assert statuses.count(503) == 200, sorted(set(statuses))
    answer = client.post("/api/v1/scan", json={"code": code}, headers=auth)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "11"
    assert answer.get_json()["error"] == "database_unavailable"


def test_a_pool_checkout_that_times_out_is_an_outage(tmp_path):
    from sqlalchemy import create_engine
    from sqlalchemy.exc import TimeoutError as PoolTimeout
    from sqlalchemy.pool import QueuePool

    engine = create_engine(f"sqlite:///{tmp_path / 'pool.sqlite3'}", poolclass=QueuePool, pool_size=1,
                           max_overflow=0, pool_timeout=0.1)
    held = engine.connect()
    try:
        with pytest.raises(PoolTimeout) as caught:
            engine.connect()
        assert is_database_outage(caught.value)
    finally:
        held.close()
        engine.dispose()


def test_a_read_only_database_is_not_ready(warm_app, private_pg):
    """Reads still answer, writes fail: /readyz must not say ready (every journey would get 503)."""
    app, client = warm_app[0], warm_app[1]
    with app.app_context():
        engine = get_db(app).engine
        with engine.connect() as conn:
            conn.execute(text("ALTER DATABASE postgres SET default_transaction_read_only = on"))
            conn.commit()
        engine.dispose()  # new connections take the setting
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["checks"]["database"] == "read_only"
    # A scan writes its event: refused by the database, answered 503 naming why (it was a 500).
    resident, auth = warm_app[2], warm_app[3]
    fresh = qr_texts(resident.get("/h5/code/token.json").get_json()["src"])[0]
    scan = client.post("/api/v1/scan", json={"code": fresh}, headers=auth)
    assert scan.status_code == 503 and scan.get_json()["error"] == "database_read_only", scan.get_json()
