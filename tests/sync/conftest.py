"""Sync fixtures: a real sandbox receiver served on a live port over a fresh, committed database."""
from __future__ import annotations

import threading

import pytest
from flask import request
from sqlalchemy import select

from erhc_h5 import demo
from erhc_h5.db import session_scope
from erhc_h5.records.models import AuthRecord
from erhc_h5.sync.client import ProvinceClient
from erhc_h5.sync.models import OutboxEntry, ProvinceRecord, SyncBatch
from erhc_h5.sync.receiver import set_faults
from erhc_h5.sync.worker import Worker
from tests.browser.conftest import LiveServer
from tests.sync.helpers import demo_app, make_cards


class Chain:
    """The city side and the sandbox province in one fresh app, the receiver on a live port."""

    def __init__(self, app, server):
        self.app = app
        self.server = server
        self.province_url = server.url + "/sandbox-province"
        self.bodies: list[bytes] = []
        self.made = 0

    def faults(self, **faults):
        set_faults(self.app, faults)

    def cards(self, n: int, methods: str = "2"):
        with self.app.app_context(), session_scope(self.app) as session:
            seeded = demo.seed(self.app, session)
            make_cards(session, demo_app(session, seeded), n, start=self.made, methods=methods)
        self.made += n

    def once(self, secret: str | None = None, **config) -> dict:
        """One worker pass; ``secret`` makes the client sign with another secret than the province's."""
        self.app.config.update(config)
        client = ProvinceClient.from_config(self.app.config)
        if secret is not None:
            client.secret = secret
        return Worker(self.app, client=client).once()

    def books(self) -> dict:
        """Check the invariants and return figures: every version held at most once by the receiver,
        accepted versions exactly once, each version travelled in exactly one cd_batch."""
        import json

        travelled: dict[tuple, set] = {}
        for body in self.bodies:
            envelope = json.loads(body)
            for r in envelope["records"]:
                travelled.setdefault((r["id"], r["cd_time"], r["cd_operation"]), set()).add(envelope["cd_batch"])
        assert all(len(batches) == 1 for batches in travelled.values()), "a version travelled in two batches"
        with self.app.app_context(), session_scope(self.app) as session:
            held = session.execute(select(ProvinceRecord.record_id, ProvinceRecord.cd_time,
                                          ProvinceRecord.cd_operation, ProvinceRecord.cd_batch)).all()
            keys = [(a, b, c) for a, b, c, _ in held]
            assert len(keys) == len(set(keys)), "the receiver holds a version twice"
            rows = session.execute(
                select(AuthRecord.record_id, AuthRecord.cd_time, AuthRecord.cd_operation, OutboxEntry.state,
                       SyncBatch.cd_batch)
                .join(OutboxEntry, OutboxEntry.auth_record_id == AuthRecord.id)
                .outerjoin(SyncBatch, SyncBatch.id == OutboxEntry.batch_id)
            ).all()
            held_batch = {(a, b, c): d for a, b, c, d in held}
            for record_id, cd_time, op, state, cd_batch in rows:
                key = (record_id, cd_time, op)
                if state == "accepted":
                    assert held_batch.get(key) == cd_batch, "accepted version missing or under another batch"
                if key in travelled:
                    assert travelled[key] == {cd_batch}
            states = {}
            for *_, state, _ in rows:
                states[state] = states.get(state, 0) + 1
        return {"held": len(keys), "versions": len(rows), "states": states}


@pytest.fixture
def chain(fresh_app):
    """Fresh app + sandbox receiver on a live port; PROVINCE_URL points at it; no retry delay."""
    app = fresh_app
    chain_ref: list[Chain] = []
    lock = threading.Lock()

    @app.before_request
    def _capture():
        if request.path.endswith("/erhc/v1/auth-records"):
            with lock:
                chain_ref[0].bodies.append(request.get_data(cache=True))

    server = LiveServer(app).start()
    chain = Chain(app, server)
    chain_ref.append(chain)
    app.config.update(PROVINCE_URL=chain.province_url, SYNC_RETRY_BASE_SECONDS=0, SYNC_LEASE_SECONDS=30,
                      PROVINCE_READ_TIMEOUT=10)
    set_faults(app, {})
    yield chain
    server.stop()
