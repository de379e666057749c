"""`flask purge`: old verification artefacts, scan audit and nonces go; cards, records and outbox stay."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select

from erhc_h5.audit import AuditEntry
from erhc_h5.db import utcnow
from erhc_h5.filing.models import LaunchNonce
from erhc_h5.records.models import AuthRecord
from erhc_h5.resident.cards import issue_or_update_card
from erhc_h5.resident.models import EHealthCard, VerificationEvent, VerificationSession
from erhc_h5.scan.models import ScanEvent
from erhc_h5.security.retention import purge
from erhc_h5.sync.models import OutboxEntry, ProvinceNonce, SyncBatch
from tests.security.helpers import demo_app, residents

KEPT = (EHealthCard, AuthRecord, OutboxEntry, SyncBatch)


def _ago(days: float) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days)


def _world(db_session, seeded) -> dict:
    """Rows on both sides of every retention line; returns the ids expected to survive."""
    app_row = demo_app(db_session, seeded)
    for person in residents(3):
        issue_or_update_card(db_session, dict(person), app_row, methods="2")
    db_session.add(SyncBatch(cd_batch="3301202001010000001", created_at=_ago(400)))
    person = residents(1)[0]

    def vs(key, state, days, completed=True):
        at = _ago(days)
        db_session.add(VerificationSession(id=key.ljust(32, "0"), method="2", state=state, payload=dict(person),
                                           created_at=at, updated_at=at, completed_at=at if completed else None))

    vs("oldpassed", "passed", 91)
    vs("oldfailed", "failed", 200)
    vs("oldabandoned", "in_progress", 120, completed=False)
    vs("newpassed", "passed", 89)
    vs("newpending", "pending_onsite", 3, completed=False)
    for key, days in (("old", 95), ("new", 5)):
        db_session.add(VerificationEvent(kind="failure", at=_ago(days), session_id=key.ljust(32, "0"), ip_hash="x" * 64,
                                         reason="mismatch"))
    for days in (181, 400, 179, 1):
        db_session.add(ScanEvent(at=_ago(days), result="authenticated", site_name="示范"))
    db_session.add_all([LaunchNonce(app_id=app_row.id, nonce="a" * 32, seen_at=_ago(2)),
                        LaunchNonce(app_id=app_row.id, nonce="b" * 32, seen_at=_ago(0.1)),
                        ProvinceNonce(nonce="c" * 32, seen_at=_ago(1.5)), ProvinceNonce(nonce="d" * 32, seen_at=_ago(0.5))])
    db_session.commit()
    return {
        "verification_sessions": {"newpassed".ljust(32, "0"), "newpending".ljust(32, "0")},
        "kept": {model.__tablename__: _count(db_session, model) for model in KEPT},
    }


def _count(db_session, model) -> int:
    return db_session.scalar(select(func.count()).select_from(model))


EXPECTED = {"verification_sessions": 2, "abandoned_verification_sessions": 1, "verification_events": 1,
            "scan_events": 2, "launch_nonces": 1, "province_nonces": 1}


def test_dry_run_counts_and_deletes_nothing(db_session, seeded, runner):
    _world(db_session, seeded)
    before = {m.__tablename__: _count(db_session, m) for m in (VerificationSession, ScanEvent, LaunchNonce)}
    result = runner.invoke(args=["purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["dry_run"] is True and {k: summary[k] for k in EXPECTED} == EXPECTED
    db_session.expire_all()
    assert before == {m.__tablename__: _count(db_session, m) for m in (VerificationSession, ScanEvent, LaunchNonce)}


def test_purge_removes_only_what_is_due_and_keeps_the_standard(db_session, seeded, runner):
    world = _world(db_session, seeded)
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert {k: summary[k] for k in EXPECTED} == EXPECTED and summary["retention_days"] == {"verification": 90, "scan": 180}
    db_session.expire_all()
    assert set(db_session.scalars(select(VerificationSession.id))) == world["verification_sessions"]
    assert [e.session_id[:3] for e in db_session.scalars(select(VerificationEvent))] == ["new"]
    assert sorted(round((utcnow() - e.at).days) for e in db_session.scalars(select(ScanEvent))) == [1, 179]
    assert list(db_session.scalars(select(LaunchNonce.nonce))) == ["b" * 32]
    assert list(db_session.scalars(select(ProvinceNonce.nonce))) == ["d" * 32]
    assert {m.__tablename__: _count(db_session, m) for m in KEPT} == world["kept"]
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "retention.purge"))
    assert entry is not None and entry.detail["scan_events"] == 2

    again = json.loads(runner.invoke(args=["purge"]).output.strip().splitlines()[-1])
    assert all(again[k] == 0 for k in EXPECTED)


def test_retention_days_come_from_configuration_and_batches_commit(app, db_session, seeded):
    _world(db_session, seeded)
    cfg = {**app.config, "RETENTION_VERIFICATION_DAYS": 1000, "RETENTION_SCAN_DAYS": 100}
    counts = purge(db_session, cfg, batch_size=1)
    assert counts["verification_sessions"] == 0 and counts["abandoned_verification_sessions"] == 0
    assert counts["scan_events"] == 3
