"""PostgreSQL really stopped under a warm app: every layer's error is an outage, every route a 503.

A private PostgreSQL cluster (initdb in a temporary folder, its own port) serves an app until its
connection pool is warm; then the server is stopped with ``pg_ctl -m fast`` and the app is asked
again. Pooled connections are now dead sockets, so the errors come from every layer: the ORM, Core,
the raw driver connection the scan API uses, and the pool's checkout.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text

from erhc_h5 import migrate

from erhc_h5.sandbox import demo
from erhc_h5.db import get_db, get_session, session_scope
from erhc_h5.errors import is_database_outage
from tests.code.helpers import resident_cookie
from tests.factories import make_card
from tests.support import free_port, make_app, qr_texts

pytestmark = pytest.mark.slow
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def _as_postgres(*args: str) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + list(args), capture_output=True, text=True, timeout=120)


@pytest.fixture
def private_pg():
    if not BINARIES or os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("needs PostgreSQL's server binaries and root (to run them as postgres)")
    bindir = os.path.dirname(BINARIES[-1])
    home = Path(tempfile.mkdtemp(prefix="erhc-pg-"))  # not under pytest's root-only folders
    data = home / "pg"
    data.mkdir()
    shutil.chown(home, "postgres")
    shutil.chown(data, "postgres")
    port = free_port()
    done = _as_postgres(f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    assert done.returncode == 0, done.stderr[-2000:]
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    done = _as_postgres(f"{bindir}/pg_ctl", "-D", str(data), "-o", options, "-l", str(data / "log"), "-w", "start")
    assert done.returncode == 0, done.stderr[-2000:]
    server = {"url": f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
              "stop": lambda: _as_postgres(f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")}
    yield server
    server["stop"]()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def warm_app(private_pg):
    app = make_app(private_pg["url"], DATABASE_RETRY_AFTER_SECONDS=11)
    migrate.upgrade(app)
    with app.app_context(), session_scope(app) as session:
        seeded = demo.seed(app, session)
        _card, user, _identity = make_card(session, seeded, bind="stopped-db")
        cookie = resident_cookie(user.id, user.app_id, user.session_version)
    client, resident = app.test_client(), app.test_client()
    with resident.session_transaction() as sess:
        sess["resident"] = cookie
    auth = {"Authorization": f"Bearer {seeded['device_token']}"}
    for _ in range(3):  # the pool holds live connections, the caches are warm
        code = qr_texts(resident.get("/h5/code/token.json").get_json()["src"])[0]
        assert client.post("/api/v1/scan", json={"code": code}, headers=auth).status_code == 200
        assert client.get("/readyz").status_code == 200
    yield app, client, resident, auth, code
    get_db(app).engine.dispose()


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
    _app, client, resident, auth, code = warm_app
    _stop(private_pg)
    statuses = []
    for i in range(100):
        statuses.append(client.post("/api/v1/scan", json={"code": code}, headers=auth).status_code)
        page = ("/h5/service", "/h5/code", "/h5/methods", "/h5/code/token.json")[i % 4]
        statuses.append(resident.get(page).status_code)
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
