"""Each step of the resident's journey is committed by its service; the resident views commit nothing.

Every test rolls the session back after the step: what the service committed survives it, what it
left uncommitted does not."""
from __future__ import annotations

import inspect
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import select

from erhc_h5.sandbox import demo
from erhc_h5.audit import AuditEntry
from erhc_h5.filing.models import FiledApp, LaunchNonce
from erhc_h5.identity.base import ProviderUnavailable
from erhc_h5.resident import checks, verification, verify_views, views
from erhc_h5.resident import launch as launching
from erhc_h5.resident import session as resident_session
from erhc_h5.cards.service import ensure_app_user
from erhc_h5.cards.models import AppUser
from erhc_h5.resident.models import VerificationSession
from tests.support import IDENTITY, PROFILE, demo_app

RETURN_URL = "http://localhost/h5/verify/face/return"


def test_the_resident_views_commit_nothing():
    for module in (views, verify_views):
        source = inspect.getsource(module)
        assert ".commit(" not in source and ".rollback(" not in source, module.__name__


def _ticket(db_session, uid: str) -> tuple[FiledApp, dict]:
    app = demo_app(db_session)
    return app, dict(parse_qsl(urlsplit(launching.make_launch_url(app, uid, app.launch_secret)).query))


def test_a_launch_commits_its_nonce_its_audit_row_and_the_session(app, db_session, seeded):
    filed, args = _ticket(db_session, "steps-launch")
    with app.test_request_context("/h5/launch"):
        result = launching.enter(db_session, args, max_skew=300)
        version = result.app_user.session_version
        db_session.rollback()  # a commit survives it
        assert not result.held and resident_session.bound_id() == result.app_user.id
    assert db_session.get(LaunchNonce, (filed.id, args["nonce"])) is not None
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "resident.launch",
                                                      AuditEntry.actor_id == str(result.app_user.id))) is not None
    db_session.expire_all()
    assert db_session.get(AppUser, result.app_user.id).session_version == version >= 1


def test_a_launch_that_fails_half_way_records_not_even_its_nonce(app, db_session, seeded, monkeypatch):
    filed, args = _ticket(db_session, "steps-launch-broken")

    def broken_audit(*args, **kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(launching, "audit", broken_audit)
    with app.test_request_context("/h5/launch"), pytest.raises(RuntimeError):
        launching.enter(db_session, args, max_skew=300)
    assert db_session.get(LaunchNonce, (filed.id, args["nonce"])) is None
    user = db_session.scalar(select(AppUser).where(AppUser.app_user_id == "steps-launch-broken"))
    assert user is None


def test_consent_identity_and_profile_are_each_committed(db_session, seeded):
    user = ensure_app_user(db_session, demo_app(db_session), "steps-walk")
    vs = verification.start(db_session, user, "v", None)
    db_session.rollback()
    assert db_session.get(VerificationSession, vs.id) is not None and vs.state == "created"
    assert verification.set_identity(db_session, vs, IDENTITY) == ([], None)
    db_session.rollback()
    assert vs.state == "in_progress" and verification.draft(vs).identity_done
    assert verification.set_profile(db_session, vs, PROFILE) == []
    db_session.rollback()
    assert verification.ready_for_check(vs) and vs.phone_bidx


def test_a_refused_identity_or_profile_commits_nothing(db_session, seeded):
    user = ensure_app_user(db_session, demo_app(db_session), "steps-refused")
    vs = verification.start(db_session, user, "v", None)
    vs.failure_reason = "not-to-be-kept"  # pending: a step that commits would take it along
    violations, lock = verification.set_identity(db_session, vs, {**IDENTITY, "idcode": "330106199003071235"})
    assert violations and lock is None
    db_session.rollback()
    assert vs.state == "created" and vs.failure_reason == ""
    verification.set_identity(db_session, vs, IDENTITY)
    vs.failure_reason = "not-to-be-kept"
    assert verification.set_profile(db_session, vs, {**PROFILE, "phone": "1380000000"})
    db_session.rollback()
    assert not verification.draft(vs).profile_done and vs.failure_reason == ""


def test_a_spent_code_try_and_a_proven_phone_are_committed(journey, db_session):
    journey.ready()
    journey.client.post("/h5/verify/sms/send")
    vs = journey.vs()
    code = verification.draft(vs).proof("otp")
    assert checks.check_code(db_session, vs, "000000" if code != "000000" else "111111") == "wrong"
    db_session.rollback()
    assert vs.otp_attempts == 1
    assert checks.check_code(db_session, vs, code) == "ok"
    db_session.rollback()
    assert checks.phone_verified(vs) and vs.otp_hash is None


def test_a_face_start_commits_its_token_and_a_provider_failure_writes_nothing(journey, db_session, provider_mode):
    journey.ready()
    vs = journey.vs()
    provider_mode("timeout")
    with pytest.raises(ProviderUnavailable):
        checks.face_start(db_session, vs, RETURN_URL)
    db_session.rollback()
    assert checks.face_token(vs) is None and vs.provider_ref is None
    provider_mode("normal")
    started = checks.face_start(db_session, vs, RETURN_URL)
    db_session.rollback()
    assert checks.face_token(vs) == started.token and vs.method == "3"


def test_the_sandbox_front_page_seeds_the_demo_app_committed_and_once(app, db_session):
    first = demo.sandbox_app(app, db_session)
    db_session.rollback()
    query = select(FiledApp).where(FiledApp.app_filing_no == demo.DEMO_APP_FILING_NO)
    assert db_session.scalar(query).id == first.id
    assert demo.sandbox_app(app, db_session).id == first.id
    assert len(db_session.scalars(query).all()) == 1
