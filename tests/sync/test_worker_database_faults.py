"""The database failing under `sync run`: idle, after a lease was taken, after the province answered.
The worker logs, counts and backs off, never exits; the batch in hand is settled (an answered
success is never sent twice) or handed back, not left to its lease. On PostgreSQL a real
`flask sync run` process also lives through its database refusing connections mid-batch."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from erhc_h5.db import get_db, session_scope
from erhc_h5.sync.models import SyncAttempt, SyncBatch
from erhc_h5.sync.repair import outbox_counts
from erhc_h5.sync.worker import Worker
from tests import processes
from tests.support import TEST_DB_URL, make_app, wait_until

ROOT = Path(__file__).resolve().parents[2]


class DatabaseOutage:
    """Statements of one engine fail like a lost database: all of them while ``down``, or the next
    ``times`` matching ``fragment``. The rest of the test (receiver, checks) has its own engine."""

    def __init__(self, engine) -> None:
        self.down = False
        self.rules: list[list] = []
        self.failed = 0
        event.listen(engine, "before_cursor_execute", self._hook)

    def fail_next(self, fragment: str, times: int = 1) -> None:
        self.rules.append([fragment, times])

    def _hook(self, _conn, _cursor, statement, parameters, _context, _many):
        hit = self.down
        for rule in self.rules:
            if not hit and rule[1] > 0 and rule[0] in statement:
                rule[1] -= 1
                hit = True
        if hit:
            self.failed += 1
            raise OperationalError(statement, None, ConnectionResetError("server closed the connection"))


@pytest.fixture
def worker_app(chain):
    """A second app on the same database for the worker alone (its own engine to break)."""
    app = make_app(chain.app.config["DATABASE_URL"], PROVINCE_URL=chain.province_url, SYNC_LEASE_SECONDS=300,
                   SYNC_ERROR_BACKOFF_SECONDS=0.05, SYNC_ERROR_BACKOFF_MAX_SECONDS=0.2, SYNC_RETRY_BASE_SECONDS=0)
    yield app
    get_db(app).engine.dispose()


@contextmanager
def running(worker: Worker):
    thread = threading.Thread(target=worker.run, kwargs={"poll_seconds": 0.05}, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        worker.stop_event.set()
        thread.join(10)


def _accepted(chain) -> int:
    with chain.app.app_context(), session_scope(chain.app) as session:
        return outbox_counts(session)["accepted"]


def _errors(app, kind: str = "database") -> float:
    registry = app.extensions["erhc_metrics"].registry
    return registry.get_sample_value("erhc_sync_worker_errors_total", {"kind": kind}) or 0


def test_idle_outage_is_logged_counted_and_outlived(chain, worker_app, caplog):
    outage = DatabaseOutage(get_db(worker_app).engine)
    worker = Worker(worker_app)
    with running(worker) as thread:
        outage.down = True
        assert wait_until(lambda: _errors(worker_app) >= 3)
        assert thread.is_alive()
        outage.down = False
        chain.cards(3)
        assert wait_until(lambda: _accepted(chain) == 3), "the worker did not resume after the outage"
        assert thread.is_alive()
    assert not thread.is_alive()
    events = [r.event for r in caplog.records if getattr(r, "event", {}).get("event") == "sync.worker_error"]
    assert events and {e["kind"] for e in events} == {"database"}
    assert all(e["error"] == "OperationalError" for e in events)


def test_outage_after_the_lease_hands_the_batch_back(chain, worker_app):
    chain.cards(3)
    outage = DatabaseOutage(get_db(worker_app).engine)
    outage.fail_next("auth_records.payload", times=3)  # reading the batch's versions, lease already taken
    worker = Worker(worker_app)
    with running(worker) as thread:
        # The 300 s lease is never waited out: the batch is handed back as soon as the database answers.
        assert wait_until(lambda: _accepted(chain) == 3)
        assert thread.is_alive()
    assert outage.failed == 3
    with chain.app.app_context(), session_scope(chain.app) as session:
        batch = session.scalars(select(SyncBatch)).one()
        assert (batch.state, batch.attempts) == ("done", 1)  # the unsent tries were not counted
    assert len(chain.bodies) == 1


def test_outage_after_the_answer_keeps_the_answer(chain, worker_app):
    chain.cards(3)
    outage = DatabaseOutage(get_db(worker_app).engine)
    outage.fail_next("INSERT INTO sync_attempts", times=4)  # the province said yes; recording it fails
    worker = Worker(worker_app)
    with running(worker) as thread:
        assert wait_until(lambda: _accepted(chain) == 3)
        assert thread.is_alive()
    assert outage.failed == 4
    assert len(chain.bodies) == 1  # settled from the answer kept in memory, not sent again
    with chain.app.app_context(), session_scope(chain.app) as session:
        assert session.scalars(select(SyncAttempt.outcome)).all() == ["ok"]
    assert chain.books()["states"] == {"accepted": 3}


def test_unexpected_error_in_one_batch_backs_that_batch_off(chain, worker_app, monkeypatch):
    chain.cards(2)
    calls = {"n": 0}
    from erhc_h5.sync import worker as worker_module

    real = worker_module.batch_body

    def flaky(batch, members):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyError("payload field")
        return real(batch, members)

    monkeypatch.setattr(worker_module, "batch_body", flaky)
    worker = Worker(worker_app)
    with running(worker) as thread:
        assert wait_until(lambda: _accepted(chain) == 2)
        assert thread.is_alive()
    with chain.app.app_context(), session_scope(chain.app) as session:
        attempts = session.execute(select(SyncAttempt.outcome, SyncAttempt.detail).order_by(SyncAttempt.id)).all()
    assert [a.outcome for a in attempts] == ["worker_error", "ok"] and "KeyError" in attempts[0].detail


# --- a real PostgreSQL outage under a real `flask sync run` ------------------------------------------

def _postgres_admin():
    return create_engine(make_url(TEST_DB_URL), isolation_level="AUTOCOMMIT")


def _cut(admin, name: str, allow: bool) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allow else "false"}'))
        if not allow:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})


def _database_errors(log: Path) -> int:
    """How many failed passes the worker has logged as database errors so far."""
    return sum('"event": "sync.worker_error"' in line and '"kind": "database"' in line
               for line in log.read_text(encoding="utf-8", errors="replace").splitlines())


def test_sync_run_lives_through_postgresql_refusing_connections_mid_batch(chain, tmp_path):
    url = make_url(chain.app.config["DATABASE_URL"])
    if url.get_backend_name() != "postgresql":
        pytest.skip("needs ERHC_TEST_DATABASE_URL on PostgreSQL")
    chain.cards(3)
    chain.faults(latency_ms=1500, count=1)  # the first upload is in flight when the database goes
    env = {**os.environ, "ERHC_DATABASE_URL": chain.app.config["DATABASE_URL"],
           "ERHC_PROVINCE_URL": chain.province_url, "ERHC_SYNC_LEASE_SECONDS": "300", "ERHC_SYNC_POLL_SECONDS": "0.2",
           "ERHC_SYNC_RETRY_BASE_SECONDS": "0", "ERHC_SYNC_ERROR_BACKOFF_SECONDS": "0.2",
           "ERHC_SYNC_ERROR_BACKOFF_MAX_SECONDS": "1"}
    log = tmp_path / "sync-run.err"
    with log.open("w") as err_file:
        proc = processes.start([sys.executable, "-m", "flask", "--app", "app", "sync", "run"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=err_file, text=True)
    admin = _postgres_admin()
    try:
        assert wait_until(lambda: len(chain.bodies) >= 1, 60), "the worker never reached the province"
        _cut(admin, url.database, allow=False)
        # The outage lasts until the worker has met it on three passes, backing off in between.
        assert wait_until(lambda: _database_errors(log) >= 3, 60), "the worker never met the outage"
        assert proc.poll() is None, "sync run exited during the database outage"
        _cut(admin, url.database, allow=True)
        assert wait_until(lambda: _accepted(chain) == 3, 60), "the batch did not go through after the outage"
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    finally:
        _cut(admin, url.database, allow=True)
        admin.dispose()
        processes.kill_group(proc)
    assert proc.returncode == 0, log.read_text(errors="replace")[-2000:]
    assert chain.books()["states"] == {"accepted": 3}
