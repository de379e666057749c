"""`flask purge`: old verification artefacts, scan audit and nonces go; cards, records and outbox stay."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select

from erhc_h5.audit import AuditEntry
from erhc_h5.db import utcnow
from erhc_h5.filing.models import LaunchNonce
from erhc_h5.records.models import AuthRecord
from erhc_h5.cards.service import issue_or_update_card
from erhc_h5.resident import limits, verification
from erhc_h5.cards.models import EHealthCard
from erhc_h5.resident.models import VerificationEvent, VerificationSession
from erhc_h5.scan.models import ProvinceVerifyNonce, ScanEvent
from erhc_h5.ops.retention import purge
from erhc_h5.staff.models import LoginThrottle
from erhc_h5.sandbox.models import ProvinceNonce
from erhc_h5.sync.models import OutboxEntry, SyncBatch
from tests.factories import audit_entry, sync_batch, verification_session
from tests.security.helpers import residents
from tests.support import Journey, demo_app

KEPT = (EHealthCard, AuthRecord, OutboxEntry, SyncBatch)


def _ago(days: float) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days)


def _world(db_session, seeded) -> dict:
    """Rows on both sides of every retention line; returns the ids expected to survive."""
    app_row = demo_app(db_session)
    for person in residents(3):
        issue_or_update_card(db_session, dict(person), app_row, methods="2")
    db_session.add(SyncBatch(cd_batch="3301202001010000001", created_at=_ago(400)))
    person = residents(1)[0]

    def vs(key, state, days, completed=True):
        at = _ago(days)
        verification_session(db_session, key, state=state, payload=dict(person), created_at=at, updated_at=at,
                             completed_at=at if completed else None)

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
                        ProvinceNonce(nonce="c" * 32, seen_at=_ago(1.5)), ProvinceNonce(nonce="d" * 32, seen_at=_ago(0.5)),
                        ProvinceVerifyNonce(nonce="e" * 32, seen_at=_ago(1.5)),
                        ProvinceVerifyNonce(nonce="f" * 32, seen_at=_ago(0.5))])
    db_session.commit()
    return {
        "verification_sessions": {"newpassed".ljust(32, "0"), "newpending".ljust(32, "0")},
        "kept": {model.__tablename__: _count(db_session, model) for model in KEPT},
    }


def _count(db_session, model) -> int:
    return db_session.scalar(select(func.count()).select_from(model))


EXPECTED = {"verification_sessions": 2, "abandoned_verification_sessions": 1, "verification_events": 1,
            "scan_events": 2, "launch_nonces": 1, "province_nonces": 1, "province_verify_nonces": 1}


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


# Rows every launch or journey step adds, each on both sides of its retention line.

def _launches(client, db_session, seeded, n: int) -> None:
    """n real launches through /h5/launch (app user, launch audit row, nonce each)."""
    from erhc_h5.resident.launch import make_launch_url

    app_row = demo_app(db_session)
    for i in range(n):
        reply = client.get(make_launch_url(app_row, f"retention-user-{i}", app_row.launch_secret))
        assert reply.status_code == 302, reply.get_data(as_text=True)[:200]


def test_launches_leave_nothing_once_past_retention(app, client, db_session, seeded):
    from erhc_h5.cards.models import AppUser

    _launches(client, db_session, seeded, 3)
    db_session.expire_all()
    launch_rows = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "resident.launch")
    assert db_session.scalar(launch_rows) == 3 and _count(db_session, AppUser) >= 3
    users_before = _count(db_session, AppUser)
    early = purge(db_session, app.config, now=utcnow() + dt.timedelta(days=29))
    assert early["launch_nonces"] == 3 and early["launch_audit"] == 0 and early["app_users_without_card"] == 0
    counts = purge(db_session, app.config, now=utcnow() + dt.timedelta(days=31))
    assert counts["launch_audit"] == 3
    assert counts["app_users_without_card"] == users_before  # none of them got a card
    db_session.expire_all()
    assert db_session.scalar(launch_rows) == 0 and _count(db_session, AppUser) == 0


def test_app_users_with_a_card_or_a_live_session_are_kept(app, db_session, seeded):
    from erhc_h5.cards.models import AppUser

    app_row = demo_app(db_session)
    card = issue_or_update_card(db_session, dict(residents(1)[0]), app_row, methods="2")
    db_session.flush()
    old = _ago(40)
    users = {name: AppUser(app_id=app_row.id, app_user_id=name, created_at=at, card_id=card_id)
             for name, at, card_id in (("old-cardless", old, None), ("old-with-card", old, card.id),
                                       ("old-in-journey", old, None), ("new-cardless", _ago(5), None))}
    db_session.add_all(users.values())
    db_session.flush()
    verification_session(db_session, "journey", state="in_progress", app_user_id=users["old-in-journey"].id,
                         created_at=_ago(1), updated_at=_ago(1))
    db_session.commit()
    counts = purge(db_session, app.config)
    assert counts["app_users_without_card"] == 1
    db_session.expire_all()
    assert set(db_session.scalars(select(AppUser.app_user_id))) == {"old-with-card", "old-in-journey", "new-cardless"}


def test_only_launch_audit_rows_expire(app, db_session, seeded):
    for action, days in (("resident.launch", 31), ("resident.launch", 29), ("staff.login", 400),
                         ("verification.passed", 400)):
        audit_entry(db_session, action, actor_type="resident", at=_ago(days))
    db_session.commit()
    assert purge(db_session, app.config)["launch_audit"] == 1
    db_session.expire_all()
    kept = sorted((e.action, round((utcnow() - e.at).days)) for e in db_session.scalars(
        select(AuditEntry).where(AuditEntry.action != "retention.purge")))
    assert kept == [("resident.launch", 29), ("staff.login", 400), ("verification.passed", 400)]


def test_expired_sessions_go_after_a_week(app, db_session, seeded):
    for key, state, days in (("exp8", "expired", 8), ("exp6", "expired", 6), ("fail8", "failed", 8)):
        at = _ago(days)
        verification_session(db_session, key, state=state, created_at=at, updated_at=at, completed_at=at)
    db_session.commit()
    assert purge(db_session, app.config)["verification_sessions"] == 1
    db_session.expire_all()
    assert {s[:5].rstrip("0") for s in db_session.scalars(select(VerificationSession.id))} == {"exp6", "fail8"}


def test_rate_counters_go_only_after_their_longest_window(app, db_session, seeded):
    from erhc_h5.resident.models import RateCounter

    for key, days in (("sms:old", 3), ("fail:recent", 1), ("fail:older", 4.5)):
        db_session.add(RateCounter(key=key, window_start=_ago(days), count=2))
    db_session.commit()
    # A lockout window longer than the configured days keeps counters that still count.
    cfg = {**app.config, "LOCKOUT_WINDOW_HOURS": 100}
    assert purge(db_session, cfg)["rate_counters"] == 1
    assert purge(db_session, app.config)["rate_counters"] == 1
    db_session.expire_all()
    assert list(db_session.scalars(select(RateCounter.key))) == ["fail:recent"]


def test_upload_attempts_go_batches_stay(app, db_session, seeded):
    from erhc_h5.sync.models import SyncAttempt

    sync_batch(db_session, "3301202001010000002", created_at=_ago(200),
               attempt_rows=[{"at": _ago(days), "outcome": "ok"} for days in (91, 89)])
    db_session.commit()
    assert purge(db_session, app.config)["sync_attempts"] == 1
    db_session.expire_all()
    assert _count(db_session, SyncAttempt) == 1 and _count(db_session, SyncBatch) == 1


def test_purge_command_reports_every_rule(db_session, seeded, runner):
    summary = json.loads(runner.invoke(args=["purge", "--dry-run"]).output.strip().splitlines()[-1])
    for name in ("launch_audit", "app_users_without_card", "verification_sessions", "rate_counters",
                 "sync_attempts", "launch_nonces", "verification_events"):
        assert name in summary


def test_scan_claims_go_after_a_day(app, db_session, seeded):
    from erhc_h5.scan.models import ScanTokenClaim

    for key, days in (("a" * 64, 2), ("b" * 64, 0.5)):
        db_session.add(ScanTokenClaim(token_fingerprint=key, at=_ago(days)))
    db_session.commit()
    assert purge(db_session, app.config)["scan_token_claims"] == 1
    db_session.expire_all()
    assert list(db_session.scalars(select(ScanTokenClaim.token_fingerprint))) == ["b" * 64]


def test_a_walked_journey_loses_its_personal_data_then_its_session(client, db_session, seeded, app):
    journey = Journey(client, db_session)
    journey.ready()
    vs = journey.vs()
    days = app.config["RETENTION_VERIFICATION_DAYS"]
    limits.record_event(db_session, "failure", subject="x", at=utcnow() - dt.timedelta(days=days + 2))
    limits.record_event(db_session, "failure", subject="y")
    db_session.commit()
    assert db_session.query(LaunchNonce).count() == 1
    first = purge(db_session, app.config, now=utcnow() + dt.timedelta(days=2))
    assert first["sessions_expired"] == 1 and first["verification_events"] == 1 and first["launch_nonces"] == 1
    assert db_session.get(VerificationSession, vs.id).payload is None
    assert db_session.query(VerificationEvent).filter_by(subject_hash="y").count() == 1
    second = purge(db_session, app.config, now=utcnow() + dt.timedelta(days=days + 3))
    db_session.commit()
    assert second["verification_sessions"] == 1
    assert db_session.query(VerificationSession).filter_by(id=vs.id).count() == 0
    assert verification.TERMINAL >= {"expired"}


def test_idle_throttle_rows_are_purged_but_not_a_running_backoff(app, db_session):
    now = utcnow()
    db_session.add_all([
        LoginThrottle(username="old.idle", failures=2, lockouts=0, updated_at=now - dt.timedelta(days=5)),
        LoginThrottle(username="old.blocked", failures=0, lockouts=9, updated_at=now - dt.timedelta(days=5),
                      blocked_until=now + dt.timedelta(days=1)),
        LoginThrottle(username="recent", failures=1, lockouts=0, updated_at=now)])
    db_session.commit()
    assert purge(db_session, app.config)["staff_login_throttles"] == 1
    assert sorted(db_session.scalars(select(LoginThrottle.username))) == ["old.blocked", "recent"]
