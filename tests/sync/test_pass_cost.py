"""The worker's loop counts only what waits: every pass of `sync run` (about one a second in each worker)
once counted the whole outbox by state, every version ever sent, so its cost grew with the table."""
from __future__ import annotations

from sqlalchemy import event

from erhc_h5.db import get_db
from erhc_h5.sync.worker import Worker


def _statements(app, run) -> tuple[object, list[str]]:
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    engine = get_db(app).engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        return run(), seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_the_loops_pass_reads_what_waits_not_the_whole_outbox(chain):
    chain.cards(4)
    assert chain.once()["accepted"] == 4  # four versions now accepted: the table holds what no longer waits
    chain.cards(3)
    app = chain.app
    chain.faults(status=503)  # the three new ones stay waiting
    figures, seen = _statements(app, lambda: Worker(app).once(outbox_figures=False))
    assert figures["pending"] == 3 and "outbox" not in figures
    whole = [s for s in seen if "GROUP BY outbox_entries.state" in s]
    assert whole == [], whole
    counted = [s for s in seen if s.startswith("SELECT count(*)") and "FROM outbox_entries" in s]
    assert counted and all("WHERE outbox_entries.state IN" in s for s in counted), counted


def test_sync_once_still_prints_the_whole_outbox(chain):
    chain.cards(2)
    figures = chain.once()
    assert figures["outbox"]["accepted"] == 2 and figures["pending"] == 0
