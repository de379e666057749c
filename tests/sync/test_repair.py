"""Ops-facing outbox service: counts, rejected list, requeue."""
from __future__ import annotations

from sqlalchemy import select

from erhc_h5.records.models import AuthRecord
from erhc_h5.sync.models import OutboxEntry
from erhc_h5.sync.repair import outbox_counts, rejected_entries, requeue
from tests.support import demo_app, make_cards
from tests.factories import count, sync_batch


def test_counts_and_requeue_rejected(db_session, seeded):
    app = demo_app(db_session)
    make_cards(db_session, app, 3)
    counts = outbox_counts(db_session)
    assert counts["pending"] == 3 and counts["accepted"] == 0
    assert counts["oldest_pending_age_seconds"] is not None and counts["oldest_pending_age_seconds"] >= 0
    assert set(counts["batches"]) >= {"ready", "sending", "done", "refused", "dead"}

    entry = db_session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)).first()
    entry.state = "rejected"
    entry.errors = [{"field": "phone", "reason": "bad_format"}]
    db_session.commit()
    rows = rejected_entries(db_session)
    assert len(rows) == 1 and rows[0]["errors"] == [{"field": "phone", "reason": "bad_format"}]
    assert len(rows[0]["record_id"]) == 32 and rows[0]["cd_operation"] == "i"

    assert requeue(db_session) == 1
    db_session.commit()
    assert entry.state == "superseded"
    old = db_session.get(AuthRecord, entry.auth_record_id)
    versions = db_session.scalars(select(AuthRecord).where(AuthRecord.record_id == old.record_id)).all()
    assert [v.cd_operation for v in versions] == ["i", "u"]
    assert outbox_counts(db_session)["pending"] == 3 and rejected_entries(db_session) == []


def test_requeue_dead_batch_keeps_cd_batch(db_session, seeded):
    app = demo_app(db_session)
    make_cards(db_session, app, 2)
    batch = sync_batch(db_session, "3301202601010000001", state="dead", record_count=2, attempts=12)
    for entry in db_session.scalars(select(OutboxEntry)).all():
        entry.state, entry.batch_id = "dead", batch.id
    db_session.commit()
    assert requeue(db_session, states=("dead",)) == 2
    db_session.commit()
    assert batch.state == "ready" and batch.attempts == 0 and batch.cd_batch == "3301202601010000001"
    assert count(db_session, OutboxEntry, OutboxEntry.state == "batched", OutboxEntry.batch_id == batch.id) == 2
