"""The verification state machine as a service: transitions, limits, expiry, the one-transaction pass."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from erhc_h5.db import utcnow
from erhc_h5.records.models import AuthRecord
from erhc_h5.records.versions import RecordInvalid
from erhc_h5.resident import checks, limits, verification
from erhc_h5.cards.service import ensure_app_user
from erhc_h5.cards.models import AppUser, EHealthCard
from erhc_h5.resident.models import VerificationSession
from erhc_h5.sync.models import OutboxEntry
from tests.factories import resident_id, wrong_check
from tests.support import IDENTITY, PROFILE, demo_app


@pytest.fixture
def new_vs(app, db_session, seeded):
    def make(uid="svc-1", identity=None, profile=None):
        user = ensure_app_user(db_session, demo_app(db_session), uid)
        vs = verification.start(db_session, user, app.config["CONSENT_VERSION"], "127.0.0.1")
        assert vs.state == "created" and vs.consent_version == app.config["CONSENT_VERSION"]
        violations, lock = verification.set_identity(db_session, vs, {**IDENTITY, **(identity or {})})
        assert violations == [] and lock is None and vs.state == "in_progress"
        assert verification.set_profile(db_session, vs, {**PROFILE, **(profile or {})}) == []
        assert verification.ready_for_check(vs)
        db_session.commit()
        return vs
    return make


def count(db_session, model):
    return db_session.scalar(select(func.count()).select_from(model))


def run_check(db_session, vs, check=checks.two_factor, methods="1"):
    """What the view does: the service runs every gate (committed), the provider, then the outcome."""
    return verification.run_check(db_session, vs, methods, lambda: check(db_session, vs))


def test_illegal_transitions_are_refused(new_vs):
    vs = new_vs()
    with pytest.raises(verification.TransitionError):
        verification.move(vs, "created")
    verification.move(vs, "expired")
    for state in ("in_progress", "passed", "pending_onsite"):
        with pytest.raises(verification.TransitionError):
            verification.move(vs, state)
    assert vs.payload is None  # personal data dropped at the end


def test_pass_writes_card_record_and_outbox_in_one_go(new_vs, db_session):
    vs = new_vs()
    before = count(db_session, OutboxEntry)
    outcome = run_check(db_session, vs)
    db_session.commit()
    assert outcome.kind == "passed" and vs.state == "passed" and vs.payload is None
    card = db_session.get(EHealthCard, vs.card_id)
    assert card.recognize_flag == 1 and card.authentication_method == "1" and card.nation == "01"
    # §5.2.2: county_code is the 9-digit division code; the form's 6 digits gain "000".
    assert card.sex == "1" and card.birthday == "1990-03-07" and card.county_code == "330106000"
    assert count(db_session, OutboxEntry) == before + 1
    record = db_session.scalar(select(AuthRecord).where(AuthRecord.card_id == card.id))
    assert record.cd_operation == "i" and record.payload["authentication_method"] == "1"


def test_methods_join_with_those_already_held(new_vs, db_session):
    run_check(db_session, new_vs("a"))
    vs = new_vs("b")
    checks.to_onsite(db_session, vs, "3^4")
    verification.complete(db_session, vs, vs.method, staff_id=None)
    db_session.commit()
    card = db_session.get(EHealthCard, vs.card_id)
    assert card.authentication_method == "1^3^4"
    ops = db_session.scalars(select(AuthRecord.cd_operation).where(AuthRecord.card_id == card.id)
                             .order_by(AuthRecord.version)).all()
    assert ops == ["i", "u"]


def test_record_invalid_writes_nothing(new_vs, db_session, monkeypatch):
    vs = new_vs()
    before = (count(db_session, EHealthCard), count(db_session, AuthRecord), count(db_session, OutboxEntry))
    assert verification.begin_check(db_session, vs, "1") is None
    db_session.get(type(demo_app(db_session)), vs.app_id).access_code = None  # app_record_no now missing
    db_session.commit()
    with pytest.raises(RecordInvalid):
        checks.two_factor(db_session, vs)
    db_session.rollback()
    assert (count(db_session, EHealthCard), count(db_session, AuthRecord), count(db_session, OutboxEntry)) == before
    assert db_session.get(VerificationSession, vs.id).state == "in_progress"


def test_failures_retry_then_fail_and_register_nothing(new_vs, db_session, app):
    vs = new_vs(identity={"name": "测试失败"})
    outcomes = []
    for _ in range(verification.max_attempts()):
        outcomes.append(run_check(db_session, vs).kind)
        db_session.commit()
    assert outcomes == ["retry"] * (verification.max_attempts() - 1) + ["failed"]
    assert vs.state == "failed" and vs.payload is None
    # A refuted check creates and changes no card and sends nothing upward.
    assert vs.card_id is None and count(db_session, EHealthCard) == 0 and count(db_session, AuthRecord) == 0


def test_lockout_is_per_account_and_never_reaches_another_users_session(new_vs, db_session, app):
    limit = app.config["LOCKOUT_FAILURES"]
    kinds = []
    for n in range(limit):
        # One account, several sessions (the session itself ends after VERIFICATION_MAX_ATTEMPTS).
        vs = new_vs("lock-owner", identity={"name": "测试失败"}) if n % 2 == 0 else vs
        kinds.append(run_check(db_session, vs).kind)
        db_session.commit()
    assert kinds[-1] == "locked" and "locked" not in kinds[:-1]
    lock = limits.identity_lock(db_session, limits.Who.of(vs))
    assert lock is not None and lock.until > utcnow() + dt.timedelta(hours=23)
    assert "年" in lock.until_beijing
    # The same account is locked at the identity step for this document ...
    again = verification.start(db_session, db_session.get(AppUser, vs.app_user_id), "v", None)
    assert verification.set_identity(db_session, again, IDENTITY)[1] is not None and again.state == "locked"
    # ... but another user, from another address, is not: a stranger's failures lock nobody else out.
    user = ensure_app_user(db_session, demo_app(db_session), "other")
    fresh = verification.start(db_session, user, "v", "10.9.9.9")
    violations, lock2 = verification.set_identity(db_session, fresh, IDENTITY)
    assert violations == [] and lock2 is None and fresh.state == "in_progress"


def test_lock_lifts_when_failures_leave_the_window(app, db_session, seeded):
    who = limits.Who(limits.subject_hash("01", IDENTITY["idcode"]), 41, "abcdef0123456789")
    now = utcnow()
    window = dt.timedelta(hours=app.config["LOCKOUT_WINDOW_HOURS"])
    first = now - window + dt.timedelta(minutes=1)
    for minutes in range(app.config["LOCKOUT_FAILURES"]):
        at = first + dt.timedelta(seconds=minutes)
        assert limits.take_guess(db_session, who, knowledge=False, now=at) is None
        limits.count_failure(db_session, who, at)
    assert isinstance(limits.take_guess(db_session, who, knowledge=False, now=now), limits.Lock)  # none left
    lock = limits.identity_lock(db_session, who, now)
    assert lock is not None and lock.until == now + dt.timedelta(minutes=1)
    assert limits.identity_lock(db_session, who, now + dt.timedelta(minutes=2)) is None


def test_idle_session_and_onsite_code_expire(new_vs, db_session, app):
    vs = new_vs()
    later = utcnow() + dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 1)
    assert verification.expire_if_due(vs, later) and vs.state == "expired"
    vs2 = new_vs("b")
    checks.to_onsite(db_session, vs2, "4")
    assert vs2.state == "pending_onsite" and len(vs2.onsite_code) == 8
    assert set(vs2.onsite_code) <= set(checks.ONSITE_ALPHABET)
    assert not verification.expire_if_due(vs2, later)  # an on-site code lives longer than the idle timeout
    hours = dt.timedelta(hours=app.config["ONSITE_CODE_HOURS"], minutes=1)
    assert verification.expire_if_due(vs2, utcnow() + hours) and vs2.state == "expired"


@pytest.mark.parametrize("field, value, reason", [
    ("name", "", "required"), ("name", "测试1", "bad_characters"), ("name", "测" * 21, "too_long"),
    ("idcode", wrong_check(resident_id()), "bad_checksum"), ("idcode", "33010619900307123", "bad_length"),
    ("idcode", resident_id("330106", "19901307", 123), "bad_birth_date"), ("id_card_type_code", "42", "bad_code"),
])
def test_identity_violations(new_vs, db_session, app, seeded, field, value, reason):
    user = ensure_app_user(db_session, demo_app(db_session), "v")
    vs = verification.start(db_session, user, "v", None)
    violations, _ = verification.set_identity(db_session, vs, {**IDENTITY, field: value})
    assert [(v.field, v.reason) for v in violations] == [(field, reason)]
    assert vs.state == "created"


@pytest.mark.parametrize("field, value, reason", [
    ("phone", "1380000000", "bad_length"), ("phone", "12800000000", "bad_format"), ("nation", "", "required"),
    ("nation", "57", "bad_code"), ("county_code", "999999", "unknown_division"),
    ("linkman", "张3", "bad_characters"), ("telephone", "abc", "bad_format"),
])
def test_profile_violations(new_vs, db_session, field, value, reason):
    vs = new_vs()
    violations = verification.set_profile(db_session, vs, {**PROFILE, field: value})
    assert (field, reason) in [(v.field, v.reason) for v in violations]


def test_other_documents_ask_sex_and_birthday(new_vs, db_session, seeded):
    user = ensure_app_user(db_session, demo_app(db_session), "passport")
    vs = verification.start(db_session, user, "v", None)
    assert verification.set_identity(db_session, vs, {"name": "测试乙", "id_card_type_code": "03",
                                                      "idcode": "E12345678", "nationality": "GBR"}) == ([], None)
    assert verification.asks_sex_and_birthday(vs)
    missing = verification.set_profile(db_session, vs, PROFILE)
    assert {v.field for v in missing} == {"sex", "birthday"}
    assert verification.set_profile(db_session, vs, {**PROFILE, "sex": "2", "birthday": "1985-02-03"}) == []
    assert checks.two_factor(db_session, vs).kind == "passed"
    card = db_session.get(EHealthCard, vs.card_id)
    assert card.sex == "2" and card.birthday == "1985-02-03"


def test_an_expiry_found_by_load_is_committed_and_a_live_session_only_read(new_vs, db_session, app):
    idle, live = new_vs("idle-on-load"), new_vs("live-on-load")
    idle.updated_at = utcnow() - dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 1)
    db_session.commit()
    assert verification.load(db_session, idle.id, db_session.get(AppUser, idle.app_user_id)).state == "expired"
    live.failure_reason = "not-to-be-kept"
    assert verification.load(db_session, live.id, db_session.get(AppUser, live.app_user_id)) is live
    db_session.rollback()  # what was committed survives it
    assert idle.state == "expired"
    assert live.state == "in_progress" and live.failure_reason == ""  # loading a live session committed nothing


def test_an_onsite_code_found_past_its_validity_is_expired_and_committed(new_vs, db_session):
    from erhc_h5.resident import onsite

    vs = new_vs("onsite-past")
    checks.to_onsite(db_session, vs, "4")
    vs.onsite_expires_at = utcnow() - dt.timedelta(minutes=1)
    db_session.commit()
    assert onsite.find_pending(db_session, vs.onsite_code) is None
    db_session.rollback()
    assert vs.state == "expired"
