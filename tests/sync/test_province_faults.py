"""A misbehaving province on a real socket (trickling, silent, huge, nested, endless replies): each
call ends within its deadline as a recorded attempt with its reason, the worker keeps running
within 150 MB, and SIGTERM ends `sync run` within 5 s with its batch handed back at once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from erhc_h5.db import session_scope
from erhc_h5.ops.status import get_status
from erhc_h5.sync.client import ProvinceClient
from erhc_h5.sync.models import SyncAttempt, SyncBatch
from erhc_h5.sync.worker import Worker
from tests import processes
from tests.sync.faulty_province import FaultyProvince
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


@pytest.fixture
def province():
    servers: list[FaultyProvince] = []

    def start(mode, interval: float = 1.0) -> FaultyProvince:
        server = FaultyProvince(mode, interval).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _attempts(chain) -> list[tuple]:
    with chain.app.app_context(), session_scope(chain.app) as session:
        return session.execute(select(SyncAttempt.outcome, SyncAttempt.elapsed_ms, SyncAttempt.detail)
                               .order_by(SyncAttempt.id)).all()


def _batch(chain) -> SyncBatch:
    with chain.app.app_context(), session_scope(chain.app) as session:
        return session.scalars(select(SyncBatch)).one()


def _once_within(chain, limit: float, **config) -> tuple[dict, float]:
    """One worker pass on its own thread; fails the test (instead of hanging it) after ``limit`` s."""
    result: dict = {}

    def target():
        try:
            result["figures"] = chain.once(**config)
        except BaseException as exc:  # reported below, in the test's thread
            result["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), f"the worker pass was still running after {limit} s"
    if "error" in result:
        raise result["error"]
    return result["figures"], elapsed


def test_trickling_reply_ends_at_the_deadline_as_a_recorded_attempt(chain, province):
    chain.cards(3)
    trickle = province("trickle", interval=0.3)  # never silent long enough for a read timeout
    figures, elapsed = _once_within(chain, 20, PROVINCE_URL=trickle.url, SYNC_DEADLINE_SECONDS=2,
                                    PROVINCE_READ_TIMEOUT=5)
    assert 2.0 <= elapsed < 3.5
    assert figures["retrying"] == 3 and figures["accepted"] == 0
    [(outcome, elapsed_ms, detail)] = _attempts(chain)
    assert outcome == "deadline" and 2000 <= elapsed_ms < 3000 and detail
    batch = _batch(chain)
    assert (batch.state, batch.lease_owner, batch.last_error) == ("ready", None, "deadline")
    with chain.app.app_context(), session_scope(chain.app) as session:
        status = get_status(session)
    assert status["sync"]["recent_failures"][0]["outcome"] == "deadline"
    assert status["sync"]["failures_by_reason"] == {"deadline": 1}
    assert "deadline" in status["province"]["label"]


def test_silent_reply_is_a_read_timeout(chain, province):
    chain.cards(2)
    silent = province("silent")
    figures, elapsed = _once_within(chain, 20, PROVINCE_URL=silent.url, SYNC_DEADLINE_SECONDS=10,
                                    PROVINCE_READ_TIMEOUT=1)
    assert elapsed < 3 and figures["retrying"] == 2
    assert [a[0] for a in _attempts(chain)] == ["read_timeout"]


def test_nested_reply_is_refused_before_parsing_and_the_batch_goes_through_later(chain, province):
    chain.cards(3)
    nested = province("nested")
    figures, _ = _once_within(chain, 20, PROVINCE_URL=nested.url)
    assert figures["retrying"] == 3
    figures, _ = _once_within(chain, 20, PROVINCE_URL=chain.province_url)
    assert figures["accepted"] == 3
    assert [a[0] for a in _attempts(chain)] == ["nested_json", "ok"]
    assert chain.books()["held"] == 3


@pytest.mark.parametrize("mode", ["huge", "huge_declared"])
def test_huge_reply_stops_at_the_cap(chain, province, mode):
    chain.cards(2)
    huge = province(mode)
    figures, elapsed = _once_within(chain, 30, PROVINCE_URL=huge.url, SYNC_MAX_REPLY_BYTES=4 * MB)
    assert figures["retrying"] == 2 and elapsed < 10
    [(outcome, _ms, detail)] = _attempts(chain)
    assert outcome == "reply_too_large" and "4194304" in detail
    # The client stopped reading at the cap (plus what the socket buffers held), not at 400 MB.
    assert huge.sent < 40 * MB


@pytest.mark.parametrize("interval, outcome", [(0.01, "deadline"), (0, "reply_too_large")])
def test_endless_reply(chain, province, interval, outcome):
    chain.cards(1)
    endless = province("endless", interval=interval)
    figures, elapsed = _once_within(chain, 30, PROVINCE_URL=endless.url, SYNC_DEADLINE_SECONDS=2,
                                    PROVINCE_READ_TIMEOUT=5, SYNC_MAX_REPLY_BYTES=4 * MB)
    assert figures["retrying"] == 1 and elapsed < 3.5
    assert [a[0] for a in _attempts(chain)] == [outcome]


def test_stop_flag_cuts_the_call_short_and_hands_the_batch_back(chain, province):
    chain.cards(3)
    trickle = province("trickle", interval=0.5)
    chain.app.config.update(PROVINCE_URL=trickle.url, SYNC_DEADLINE_SECONDS=60, SYNC_LEASE_SECONDS=300)
    worker = Worker(chain.app, client=ProvinceClient.from_config(chain.app.config))
    thread = threading.Thread(target=worker.run, kwargs={"poll_seconds": 0.05}, daemon=True)
    thread.start()
    assert trickle.wait_for_request()
    assert wait_until(lambda: trickle.sent >= 2, timeout=30, every=0.05), "the reply never began to trickle"
    stopped_at = time.monotonic()
    worker.stop_event.set()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - stopped_at < 1.5
    batch = _batch(chain)
    assert (batch.state, batch.lease_owner, batch.attempts) == ("ready", None, 0)
    assert _attempts(chain) == []  # not the province's failure: nothing to count against it
    figures, _ = _once_within(chain, 20, PROVINCE_URL=chain.province_url)  # retaken at once, lease or not
    assert figures["accepted"] == 3


# --- `flask sync run` as a real process --------------------------------------------------------------

def _sync_run(chain, province_url: str, **env) -> subprocess.Popen:
    env = {**os.environ, "ERHC_DATABASE_URL": chain.app.config["DATABASE_URL"], "ERHC_PROVINCE_URL": province_url,
           "ERHC_SYNC_POLL_SECONDS": "0.2", "ERHC_LOG_LEVEL": "WARNING", **env}
    return processes.start([sys.executable, "-m", "flask", "--app", "app", "sync", "run"], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_sync_run_stops_within_5s_of_sigterm_while_a_reply_trickles(chain, province):
    chain.cards(3)
    trickle = province("trickle", interval=1.0)
    proc = _sync_run(chain, trickle.url, ERHC_SYNC_DEADLINE_SECONDS="120", ERHC_SYNC_LEASE_SECONDS="300")
    try:
        assert trickle.wait_for_request(60), "the worker never reached the province"
        assert wait_until(lambda: trickle.sent >= 2, timeout=30, every=0.05), "the reply never began to trickle"
        assert proc.poll() is None
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("sync run was still running 5 s after SIGTERM")
        took = time.monotonic() - sent_at
    finally:
        processes.kill_group(proc)
    assert proc.returncode == 0, err[-2000:]
    assert out.strip().splitlines()[-1].endswith('"status": "stopped"}')
    assert took < 5.0
    print(f"sync run stopped {took:.2f} s after SIGTERM in a trickling reply")
    batch = _batch(chain)
    assert (batch.state, batch.lease_owner, batch.attempts) == ("ready", None, 0)  # handed back
    figures, _ = _once_within(chain, 20, PROVINCE_URL=chain.province_url)  # no 300 s lease to wait out
    assert figures["accepted"] == 3


class SequencedProvince(FaultyProvince):
    """One fault per request, in order; the last one repeats."""

    def __init__(self, modes: list[tuple[str, float]]) -> None:
        super().__init__(modes[0][0], modes[0][1])
        self.modes = modes

    def _serve(self, conn):
        self.mode, self.interval = self.modes[min(self.requests, len(self.modes) - 1)]
        super()._serve(conn)


def test_sync_run_outlives_nested_huge_and_endless_replies_under_150_mb(chain):
    chain.cards(3)
    modes = [("nested", 0), ("huge", 0), ("huge_declared", 0), ("endless", 0), ("silent", 0)]
    faulty = SequencedProvince(modes).start()
    proc = _sync_run(chain, faulty.url, ERHC_SYNC_RETRY_BASE_SECONDS="0.2", ERHC_SYNC_DEADLINE_SECONDS="20")
    try:
        expected = ["nested_json", "reply_too_large", "reply_too_large", "reply_too_large"]
        assert wait_until(lambda: len(_attempts(chain)) >= 4, 90), [a[0] for a in _attempts(chain)]
        assert proc.poll() is None, "sync run exited"
        peak = _peak_rss_mb(proc.pid)
        assert [a[0] for a in _attempts(chain)[:4]] == expected
        assert peak < 150, f"peak RSS {peak:.0f} MB"
        print(f"sync run peak RSS (VmHWM) after nested, 400 MB and endless replies: {peak:.1f} MB")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        processes.kill_group(proc)
        faulty.stop()
    assert proc.returncode == 0, err[-2000:]
