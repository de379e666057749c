"""Two workers at once on PostgreSQL never hold the same batch, and no version is batched twice."""
from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from erhc_h5.db import session_scope
from erhc_h5.sync.client import ProvinceClient
from erhc_h5.sync.models import SyncAttempt, SyncBatch
from erhc_h5.sync.worker import Worker
from tests.support import TEST_DB_URL

pytestmark = pytest.mark.skipif(not TEST_DB_URL.startswith("postgresql"),
                                reason="needs ERHC_TEST_DATABASE_URL on PostgreSQL")


def test_two_workers_share_the_work(chain):
    chain.cards(400)
    chain.faults(latency_ms=30)
    chain.app.config.update(SYNC_BATCH_SIZE=20)
    results: list[dict] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            worker = Worker(chain.app, client=ProvinceClient.from_config(chain.app.config), owner=name)
            results.append(worker.once())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(r["accepted"] for r in results) == 400
    assert all(r["attempts"] > 0 for r in results), "one worker did all the work; no concurrency shown"
    sent = Counter(json.loads(body)["cd_batch"] for body in chain.bodies)
    assert len(sent) == 20 and set(sent.values()) == {1}, "a batch was held by two workers"
    with chain.app.app_context(), session_scope(chain.app) as session:
        assert session.scalar(select(func.count()).select_from(SyncBatch)) == 20
        assert session.scalar(select(func.count()).select_from(SyncAttempt)) == 20
    books = chain.books()
    assert books["held"] == 400 and books["states"] == {"accepted": 400}
