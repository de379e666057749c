"""Fault tests against the real sandbox receiver: after each, the receiver holds every version
exactly once and each version travelled in exactly one cd_batch."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from erhc_h5.db import session_scope, utcnow
from erhc_h5.records.models import AuthRecord
from erhc_h5.sandbox.models import ProvinceRecord
from erhc_h5.sync.models import OutboxEntry, SyncAttempt, SyncBatch
from erhc_h5.sync.repair import outbox_counts, rejected_entries, requeue
from tests.support import wait_until


def _attempts(chain) -> list[str]:
    with chain.app.app_context(), session_scope(chain.app) as session:
        return list(session.scalars(select(SyncAttempt.outcome).order_by(SyncAttempt.id)).all())


def _held(chain) -> int:
    """Versions the province has stored."""
    with chain.app.app_context(), session_scope(chain.app) as session:
        return session.scalar(select(func.count()).select_from(ProvinceRecord))


def _batches(chain) -> list[tuple]:
    with chain.app.app_context(), session_scope(chain.app) as session:
        return session.execute(select(SyncBatch.cd_batch, SyncBatch.state, SyncBatch.attempts)
                               .order_by(SyncBatch.id)).all()


def test_province_down_then_up(chain):
    chain.cards(5)
    out = chain.once(PROVINCE_URL="http://127.0.0.1:9/sandbox-province", PROVINCE_CONNECT_TIMEOUT=1)
    assert out["sent"] == 5 and out["accepted"] == 0 and out["retrying"] == 5 and out["pending"] == 5
    assert _attempts(chain) == ["connect_error"]
    out = chain.once(PROVINCE_URL=chain.province_url)
    assert out["accepted"] == 5 and out["pending"] == 0
    assert [b[1:] for b in _batches(chain)] == [("done", 2)]
    books = chain.books()
    assert books["held"] == 5 and books["states"] == {"accepted": 5}


def test_slow_province_read_timeout(chain):
    chain.cards(4)
    chain.faults(latency_ms=1500, count=1)
    out = chain.once(PROVINCE_READ_TIMEOUT=0.4)
    assert out["retrying"] == 4 and out["accepted"] == 0
    assert _attempts(chain) == ["read_timeout"]
    # The slow request is still stored by the province after the client gave up.
    assert wait_until(lambda: _held(chain) == 4, timeout=30), "the province never stored the slow request"
    out = chain.once(PROVINCE_READ_TIMEOUT=10)
    assert out["accepted"] == 4
    books = chain.books()
    assert books["held"] == 4 and books["states"] == {"accepted": 4}
    assert len(chain.bodies) == 2 and chain.bodies[0] == chain.bodies[1]  # resent byte for byte


def test_5xx_retried_same_batch(chain):
    chain.cards(6)
    chain.faults(status=503, count=2)
    assert chain.once(SYNC_BATCH_SIZE=6)["retrying"] == 6
    assert chain.once()["retrying"] == 6
    out = chain.once()
    assert out["accepted"] == 6 and out["pending"] == 0
    assert _attempts(chain) == ["http_5xx", "http_5xx", "ok"]
    assert len(_batches(chain)) == 1 and len(set(chain.bodies)) == 1
    assert chain.books()["held"] == 6


def test_429_honours_retry_after(chain):
    chain.cards(3)
    chain.faults(status=429, retry_after=2, count=1)
    assert chain.once()["retrying"] == 3
    out = chain.once()
    assert out["attempts"] == 0 and out["pending"] == 3  # not due yet
    assert chain.once(clock=lambda: utcnow() + dt.timedelta(seconds=1.5))["attempts"] == 0  # still not
    out = chain.once(clock=lambda: utcnow() + dt.timedelta(seconds=2.1))
    assert out["accepted"] == 3
    assert _attempts(chain) == ["rate_limited", "ok"]
    assert chain.books()["held"] == 3


def test_garbled_reply(chain):
    chain.cards(3)
    chain.faults(garbled_reply=True, count=1)
    assert chain.once()["retrying"] == 3
    assert chain.once()["accepted"] == 3
    assert _attempts(chain) == ["bad_json", "ok"]
    assert chain.books()["held"] == 3


def test_dropped_connection(chain):
    chain.cards(3)
    chain.faults(drop_connection=True, count=1)
    out = chain.once()
    assert out["retrying"] == 3
    assert _attempts(chain)[0] in ("connect_error", "transport_error")
    assert chain.once()["accepted"] == 3
    assert chain.books()["held"] == 3


def test_stored_then_500(chain):
    chain.cards(4)
    chain.faults(stored_then_500=True, count=1)
    assert chain.once()["retrying"] == 4
    assert chain.books()["held"] == 4  # the province kept them although it answered 500
    out = chain.once()
    assert out["accepted"] == 4
    books = chain.books()
    assert books["held"] == 4 and books["states"] == {"accepted": 4}


def test_partial_rejection_then_fix_and_requeue(chain):
    chain.cards(5)
    with chain.app.app_context(), session_scope(chain.app) as session:
        broken = session.scalars(select(AuthRecord).order_by(AuthRecord.id).limit(2)).all()
        for version in broken:  # a version the province refuses (as if the card had been wrong)
            session.execute(update(AuthRecord).where(AuthRecord.id == version.id)
                            .values(payload={**version.payload, "phone": "1381234"}))
    out = chain.once()
    assert out["accepted"] == 3 and out["rejected"] == 2 and out["pending"] == 0
    with chain.app.app_context(), session_scope(chain.app) as session:
        rows = rejected_entries(session)
        assert [e["errors"] for e in rows] == [[{"field": "phone", "reason": "bad_length"}]] * 2
        assert outbox_counts(session)["rejected"] == 2
        assert requeue(session) == 2  # the cards are right: a new version of each is written
    out = chain.once()
    assert out["accepted"] == 2 and out["rejected"] == 0
    books = chain.books()
    assert books["held"] == 5 and books["versions"] == 7
    assert books["states"] == {"accepted": 5, "superseded": 2}


def test_sandbox_reject_field(chain):
    chain.cards(4)
    chain.faults(reject_field="nation", reject_every=2, count=1)
    out = chain.once()
    assert out["accepted"] == 2 and out["rejected"] == 2
    with chain.app.app_context(), session_scope(chain.app) as session:
        assert {e["errors"][0]["reason"] for e in rejected_entries(session)} == {"sandbox_rejected"}
    assert chain.books()["held"] == 2


def test_refused_batch_then_requeue_sends_it_unchanged(chain):
    chain.cards(3)
    out = chain.once(secret="wrong-secret")
    assert out["refused"] == 3 and out["retrying"] == 0
    assert _batches(chain)[0][1] == "refused"
    assert chain.once()["attempts"] == 0  # not retried blindly
    with chain.app.app_context(), session_scope(chain.app) as session:
        assert outbox_counts(session)["dead"] == 3
        assert requeue(session, states=("dead",)) == 3
    out = chain.once()
    assert out["accepted"] == 3
    assert len({b for b in chain.bodies}) == 1  # the same bytes both times
    assert chain.books()["states"] == {"accepted": 3}


def test_dead_after_max_attempts(chain):
    chain.cards(2)
    chain.faults(status=502)
    chain.app.config.update(SYNC_MAX_ATTEMPTS=2)
    assert chain.once()["retrying"] == 2
    assert chain.once()["dead"] == 2
    assert chain.once()["attempts"] == 0
    assert [b[1:] for b in _batches(chain)] == [("dead", 2)]
    chain.faults()
    with chain.app.app_context(), session_scope(chain.app) as session:
        assert requeue(session) == 2
    assert chain.once()["accepted"] == 2
    assert chain.books()["held"] == 2
    with chain.app.app_context(), session_scope(chain.app) as session:
        assert session.scalar(select(OutboxEntry.state).limit(1)) == "accepted"
