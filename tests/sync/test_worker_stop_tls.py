"""`sync run` as a real process, caught in a TLS handshake the province never answers: SIGTERM
closes the connection and the worker exits, long before the handshake's own timeout."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from erhc_h5.db import session_scope
from erhc_h5.sync.models import SyncBatch
from tests import processes
from tests.sync.tls_province import TlsProvince

ROOT = Path(__file__).resolve().parents[2]
HANDSHAKE_TIMEOUT = 60  # only SIGTERM can end the call before this


@pytest.mark.slow
def test_sigterm_during_stalled_handshake_closes_it_and_hands_the_batch_back(chain):
    chain.cards(2)
    with TlsProvince(None, None, stall=True) as province:
        env = {**os.environ, "ERHC_DATABASE_URL": chain.app.config["DATABASE_URL"], "ERHC_PROVINCE_URL": province.url,
               "ERHC_PROVINCE_CONNECT_TIMEOUT": str(HANDSHAKE_TIMEOUT), "ERHC_SYNC_DEADLINE_SECONDS": "120",
               "ERHC_SYNC_POLL_SECONDS": "0.2", "ERHC_LOG_LEVEL": "WARNING"}
        worker = processes.start([sys.executable, "-m", "flask", "--app", "app", "sync", "run"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert province.accepted.wait(60), "the worker never reached the province"
            time.sleep(0.3)  # well inside the handshake
            signalled = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            out, err = worker.communicate(timeout=HANDSHAKE_TIMEOUT / 2)
            took = time.monotonic() - signalled
        finally:
            processes.kill_group(worker)
        assert province.closed_by_peer.is_set(), "the stalled connection was left open"
    assert worker.returncode == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["status"] == "stopped"
    # The README promises "within a second"; the margin absorbs a loaded test machine.
    assert took < 2, f"SIGTERM to exit took {took:.2f} s"
    with chain.app.app_context(), session_scope(chain.app) as session:
        batch = session.scalars(select(SyncBatch)).one()
        assert batch.state == "ready" and batch.lease_owner is None and batch.attempts == 0
