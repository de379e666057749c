"""The 备案 state machine and secrets, at the service level (the province's decision: test_decisions.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from erhc_h5.sandbox import demo
from erhc_h5.audit import AuditEntry
from erhc_h5.filing import services, uploads
from erhc_h5.filing.decisions import DecisionInput, record_decision
from erhc_h5.filing.models import DecisionSource, FiledApp
from tests.factories import image_bytes
from tests.filing.helpers import FIELDS, beijing_today


def _draft(db_session, reviewer, **changes):
    return services.create_application(db_session, {**FIELDS, **changes}, actor_id=reviewer.id)


PDF = b"%PDF-1.4\n% stamped form\n%%EOF\n"


def _province_approves(db_session, filed, recorder, **changes):
    # Beijing's date when the decision is recorded (a date taken at import went stale at Beijing midnight,
    # 16:00 UTC, for a suite that began before it)
    given = DecisionInput(**{"outcome": "approved", "opinion": "同意备案", "decided_on": beijing_today(),
                             "app_filing_no": "ZJ-3301-2026-0042", "access_code": "330100000042",
                             "form_data": PDF, **changes})
    return record_decision(db_session, filed, given, actor_id=recorder.id, source=DecisionSource.CONSOLE,
                           issue_secret=True)


def _sent_to_province(db_session, filed, author, checker):
    uploads.add_screen(db_session, filed, image_bytes(), actor_id=author.id)
    services.transition(db_session, filed, "submit", actor_id=author.id)
    services.transition(db_session, filed, "approve", actor_id=checker.id, opinion="同意报省")


def test_full_lifecycle(app, db_session, reviewer, checker, upload_dir):
    filed = _draft(db_session, reviewer)
    assert filed.status == "draft" and filed.auth_methods == "2^3" and not filed.can_launch
    with pytest.raises(services.FilingError) as info:
        services.transition(db_session, filed, "submit", actor_id=reviewer.id)
    assert info.value.reason == "screens_required"
    uploads.add_screen(db_session, filed, image_bytes(), actor_id=reviewer.id)
    services.transition(db_session, filed, "submit", actor_id=reviewer.id)
    assert filed.status == "submitted" and filed.submitted_at
    assert services.transition(db_session, filed, "approve", actor_id=checker.id, opinion="同意报省") is None
    # the city's approval only sends the form to the province: no number, no secret, no launch
    assert filed.status == "province_pending" and filed.status_label == "已提交省级,待省级审批"
    assert filed.access_code is None and filed.launch_secret is None and not filed.can_launch
    today = beijing_today()
    decision, secret = _province_approves(db_session, filed, checker, decided_on=today)
    assert filed.status == "approved" and filed.can_launch
    assert (filed.app_filing_no, filed.access_code) == ("ZJ-3301-2026-0042", "330100000042")
    assert secret and len(secret) == 64 and filed.launch_secret == secret and filed.secret_version == 1
    assert filed.review_opinion == "同意备案" and str(filed.province_decided_on) == today
    assert decision.source == "console" and decision.recorded_by_id == checker.id and decision.form_file
    services.transition(db_session, filed, "suspend", actor_id=reviewer.id)
    assert filed.status == "suspended" and not filed.can_launch
    services.transition(db_session, filed, "reinstate", actor_id=reviewer.id)
    assert filed.can_launch and filed.suspended_at is None
    new = services.rotate_secret(db_session, filed, actor_id=checker.id)
    assert new != secret and filed.secret_version == 2 and filed.access_code == "330100000042"
    actions = db_session.scalars(select(AuditEntry.action).where(
        AuditEntry.target_type == "filed_app", AuditEntry.target_id == str(filed.id)).order_by(AuditEntry.id)).all()
    assert actions == ["filing.create", "filing.screen_add", "filing.submit", "filing.approve",
                       "filing.province_approve", "filing.suspend", "filing.reinstate", "filing.rotate_secret"]
    stored = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "filing.rotate_secret"))
    assert secret not in str(stored.detail) and new not in str(stored.detail)


def test_secret_is_encrypted_at_rest(app, db_session, reviewer, checker, upload_dir):
    from sqlalchemy import text

    filed = _draft(db_session, reviewer)
    _sent_to_province(db_session, filed, reviewer, checker)
    _, secret = _province_approves(db_session, filed, checker)
    raw = db_session.execute(text("SELECT launch_secret FROM filed_apps WHERE id = :i"), {"i": filed.id}).scalar()
    assert raw and secret not in raw


def test_the_city_makes_up_no_access_code(app, db_session, reviewer, checker, upload_dir):
    filed = _draft(db_session, reviewer, app_filing_no="")
    _sent_to_province(db_session, filed, reviewer, checker)
    assert filed.app_filing_no is None and filed.access_code is None
    assert not hasattr(services, "next_access_code")


@pytest.mark.parametrize("state,action", [
    ("draft", "approve"), ("draft", "suspend"), ("submitted", "submit"), ("submitted", "reinstate"),
    ("province_pending", "approve"), ("province_pending", "suspend"), ("province_pending", "reject"),
    ("approved", "approve"), ("approved", "reject"), ("rejected", "approve"), ("suspended", "suspend"),
    ("suspended", "approve"),
])
def test_invalid_transitions_are_refused_in_chinese(app, db_session, reviewer, state, action):
    filed = _draft(db_session, reviewer)
    filed.status = state
    with pytest.raises(services.FilingError) as info:
        services.transition(db_session, filed, action, actor_id=reviewer.id)
    assert info.value.reason == "invalid_transition"
    assert "不能" in str(info.value) and filed.status == state


def test_reject_needs_opinion_and_revision_reopens(app, db_session, reviewer, upload_dir):
    filed = _draft(db_session, reviewer)
    uploads.add_screen(db_session, filed, image_bytes(), actor_id=reviewer.id)
    services.transition(db_session, filed, "submit", actor_id=reviewer.id)
    with pytest.raises(services.FilingError) as info:
        services.transition(db_session, filed, "reject", actor_id=reviewer.id, opinion="  ")
    assert info.value.reason == "opinion_required" and filed.status == "submitted"
    services.transition(db_session, filed, "reject", actor_id=reviewer.id, opinion="截图不清晰")
    assert filed.status == "rejected" and filed.access_code is None and filed.launch_secret is None
    services.update_application(db_session, filed, {**FIELDS, "app_name": "改名后的App"}, actor_id=reviewer.id)
    assert filed.status == "draft" and filed.app_name == "改名后的App"


def test_edit_refused_once_submitted(app, db_session, reviewer, upload_dir):
    filed = _draft(db_session, reviewer)
    uploads.add_screen(db_session, filed, image_bytes(), actor_id=reviewer.id)
    services.transition(db_session, filed, "submit", actor_id=reviewer.id)
    with pytest.raises(services.FilingError) as info:
        services.update_application(db_session, filed, FIELDS, actor_id=reviewer.id)
    assert info.value.reason == "not_editable"


@pytest.mark.parametrize("changes,reason,field", [
    ({"app_name": ""}, "required", "app_name"),
    ({"app_filing_no": "X" * 21}, "too_long", "app_filing_no"),
    ({"app_filing_no": "含中文"}, "bad_filing_no", "app_filing_no"),
    ({"app_filing_no": demo.DEMO_APP_FILING_NO}, "duplicate_filing_no", "app_filing_no"),
    ({"auth_methods": []}, "methods_required", "auth_methods"),
    ({"auth_methods": ["2", "5"]}, "bad_method", "auth_methods"),
    ({"allowed_origins": "javascript:alert(1)"}, "bad_origin", "allowed_origins"),
])
def test_bad_application_data(app, db_session, reviewer, changes, reason, field):
    before = db_session.query(FiledApp).count()
    with pytest.raises(services.FilingError) as info:
        _draft(db_session, reviewer, **changes)
    assert (info.value.reason, info.value.field) == (reason, field)
    assert db_session.query(FiledApp).count() == before


def test_methods_are_normalised():
    assert services.parse_methods(["4", "1", "3", "1"]) == "1^3^4"
    assert services.parse_methods("3^2") == "2^3"
