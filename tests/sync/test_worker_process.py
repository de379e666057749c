"""`sync run` as a real process: SIGKILL mid-batch loses nothing; SIGTERM stops it cleanly."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from erhc_h5.db import session_scope
from erhc_h5.sync.models import SyncBatch
from erhc_h5.sync.repair import outbox_counts
from tests import processes
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _worker(chain, *args: str) -> subprocess.Popen:
    env = {**os.environ, "ERHC_DATABASE_URL": chain.app.config["DATABASE_URL"],
           "ERHC_PROVINCE_URL": chain.province_url, "ERHC_SYNC_LEASE_SECONDS": "2",
           "ERHC_SYNC_POLL_SECONDS": "0.2", "ERHC_SYNC_RETRY_BASE_SECONDS": "0", "ERHC_LOG_LEVEL": "WARNING"}
    return processes.start([sys.executable, "-m", "flask", "--app", "app", "sync", *args], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _counts(chain) -> dict:
    with chain.app.app_context(), session_scope(chain.app) as session:
        return outbox_counts(session)


def test_sigkill_mid_batch_then_next_worker_resends_unchanged(chain):
    chain.cards(6)
    chain.faults(latency_ms=2500, count=1)  # the first request hangs at the province
    first = _worker(chain, "run")
    try:
        assert wait_until(lambda: len(chain.bodies) >= 1), "the worker never reached the province"
        first.send_signal(signal.SIGKILL)
    finally:
        processes.kill_group(first)
    assert first.returncode == -signal.SIGKILL
    with chain.app.app_context(), session_scope(chain.app) as session:
        batch = session.scalars(select(SyncBatch)).one()
        assert batch.state == "sending" and batch.lease_owner  # caught mid-batch
    second = _worker(chain, "run")
    try:
        assert wait_until(lambda: _counts(chain)["accepted"] == 6), "the next worker did not finish the batch"
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=20)
    finally:
        processes.kill_group(second)
    assert second.returncode == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["status"] == "stopped"
    # The hung first request finishes at the province in its own time.
    assert wait_until(lambda: chain.answered == 2, timeout=30), "the province never answered the hung request"
    books = chain.books()
    assert books["held"] == 6 and books["states"] == {"accepted": 6}
    assert len(chain.bodies) == 2 and chain.bodies[0] == chain.bodies[1]
    with chain.app.app_context(), session_scope(chain.app) as session:
        batch = session.scalars(select(SyncBatch)).one()
        assert batch.state == "done" and batch.attempts == 2


def test_cli_once_status_requeue(chain):
    chain.cards(2)
    proc = _worker(chain, "once")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    figures = json.loads(out.strip().splitlines()[-1])
    assert {k: figures[k] for k in ("sent", "accepted", "rejected", "retrying", "pending")} == {
        "sent": 2, "accepted": 2, "rejected": 0, "retrying": 0, "pending": 0}
    proc = _worker(chain, "status")
    out, _ = proc.communicate(timeout=60)
    status = json.loads(out.strip().splitlines()[-1])
    assert status["accepted"] == 2 and status["batches"]["done"] == 1
    proc = _worker(chain, "requeue")
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == {"requeued": 0}
    assert chain.books()["held"] == 2
