"""Outbox and batch states as types: stored, counted and printed as the same strings as before."""
from __future__ import annotations

import json

from sqlalchemy import inspect, text

from erhc_h5.db import get_db
from erhc_h5.sync.models import (
    BATCH_STATES, OUTBOX_STATES, REQUEUE_STATES, WAITING_STATES, BatchState, OutboxState, SyncBatch,
)

# What `sync status` has printed and rows hold (README "sync requeue": --state rejected|dead).
OUTBOX = ("pending", "batched", "accepted", "rejected", "dead", "superseded")
BATCH = ("ready", "sending", "done", "refused", "dead")


def test_the_states_are_the_stored_strings():
    assert [s.value for s in OutboxState] == list(OUTBOX) and OUTBOX_STATES == OUTBOX
    assert [s.value for s in BatchState] == list(BATCH) and BATCH_STATES == BATCH
    assert set(WAITING_STATES) == {"pending", "batched"}
    assert set(REQUEUE_STATES) == {"rejected", "dead"}
    assert json.dumps({s: s for s in OutboxState}) == json.dumps({s: s for s in OUTBOX})


def test_each_state_fits_its_migrated_column(app):
    columns = inspect(get_db(app).engine)
    for table, values in (("outbox_entries", OUTBOX), ("sync_batches", BATCH)):
        length = next(c["type"].length for c in columns.get_columns(table) if c["name"] == "state")
        assert max(len(v) for v in values) <= length, table


def test_a_batch_state_reads_back_as_plain_text(app, db_session):
    for i, state in enumerate(BatchState):
        db_session.add(SyncBatch(cd_batch=f"3301202612031200{i:03d}", state=state))
    db_session.flush()
    stored = db_session.execute(text("SELECT state FROM sync_batches WHERE cd_batch LIKE '3301202612031200%' "
                                     "ORDER BY cd_batch")).scalars().all()
    assert stored == list(BATCH) and all(type(s) is str for s in stored)
