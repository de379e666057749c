"""Two decisions for one filing, 30 signed calls released at once against a live server: exactly one
decision is recorded, the same decision resent is told ``already_recorded``, the other ``already_decided``."""
from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import func, select

from erhc_h5.db import session_scope
from erhc_h5.filing.models import FiledApp, FilingDecision
from erhc_h5.staff.models import StaffUser
from erhc_h5.sandbox import demo
from tests.factories import pending_filing
from tests.filing.exchange import DECISION_PATH, decision_body, signed
from tests.support import LiveServer

CALLS = 30


@pytest.mark.slow
def test_attack_racing_decisions_for_one_filing_record_exactly_one(fresh_app, tmp_path):
    fresh_app.config.update(UPLOAD_DIR=str(tmp_path / "uploads"))
    with fresh_app.app_context(), session_scope(fresh_app) as session:
        demo.seed(fresh_app, session)
        users = {u.username: u for u in session.scalars(select(StaffUser))}
        filing_id = pending_filing(session, users["demo-reviewer"], users["demo-admin"]).id
    bodies = [decision_body(filing_id), decision_body(filing_id, access_code="330101000077",
                                                      app_filing_no="ZJBA3301-0077", decision_no="ZJSP-2026-0077")]
    prepared = [(bodies[i % 2], signed(bodies[i % 2])) for i in range(CALLS)]
    server = LiveServer(fresh_app).start()
    barrier, replies, lock = threading.Barrier(CALLS), [], threading.Lock()

    def call(body, headers):
        barrier.wait()
        reply = requests.post(server.url + DECISION_PATH, data=body, headers=headers, timeout=60)
        with lock:
            replies.append((body, reply.status_code, reply.json()))

    threads = [threading.Thread(target=call, args=item) for item in prepared]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
    finally:
        server.stop()
    assert len(replies) == CALLS
    recorded = [r for r in replies if r[2].get("result") == "recorded"]
    assert len(recorded) == 1 and recorded[0][1] == 200
    winner = recorded[0][0]
    for body, status, reply in replies:
        if reply.get("result") == "recorded":
            continue
        if body == winner:
            assert (status, reply) == (200, {"result": "already_recorded"})
        else:
            assert (status, reply.get("error")) == (409, "already_decided")
    with fresh_app.app_context(), session_scope(fresh_app) as session:
        assert session.scalar(select(func.count()).select_from(FilingDecision)
                              .where(FilingDecision.app_id == filing_id)) == 1
        filed = session.get(FiledApp, filing_id)
        assert filed.status == "approved" and filed.access_code in ("330101000042", "330101000077")
