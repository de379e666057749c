"""POST /api/v1/province/filing-decision: the province's signed decision, recorded once; every
refusal writes nothing."""
from __future__ import annotations

import hashlib
import json
import time

import pytest
from sqlalchemy import func, select

from erhc_h5.audit import AuditEntry
from erhc_h5.filing import services
from erhc_h5.filing.models import FiledApp, FilingDecision
from tests.factories import pending_filing
from tests.filing.exchange import DECISION_PATH, decision_body, signed
from tests.filing.helpers import FIELDS


def _post(client, body: bytes, headers: dict | None = None):
    return client.post(DECISION_PATH, data=body, headers=signed(body) if headers is None else headers)


def _decisions(db_session, filing_id: int) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(FilingDecision).where(FilingDecision.app_id == filing_id))


def test_a_signed_approval_is_recorded_with_the_province_numbers(client, db_session, pending):
    body = decision_body(pending.id)
    response = _post(client, body)
    assert response.status_code == 200 and response.get_json() == {"result": "recorded"}
    db_session.expire_all()
    filed = db_session.get(FiledApp, pending.id)
    assert (filed.status, filed.app_filing_no, filed.access_code) == ("approved", "ZJBA3301-0042", "330101000042")
    assert filed.review_opinion == "同意备案(省级)" and filed.launch_secret is None
    decision = db_session.scalar(select(FilingDecision).where(FilingDecision.app_id == pending.id))
    assert decision.source == "province" and decision.province_decision_no == "ZJSP-2026-0042"
    assert decision.signed_body_sha256 == hashlib.sha256(body).hexdigest() and decision.form_file is None
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "filing.province_approve",
                                                       AuditEntry.target_id == str(pending.id)))
    assert entry.actor_type == "province"


def test_a_signed_rejection_records_the_opinion_and_no_number(client, db_session, pending):
    body = decision_body(pending.id, outcome="rejected", app_filing_no="", access_code="", opinion="材料不全")
    assert _post(client, body).get_json() == {"result": "recorded"}
    db_session.expire_all()
    filed = db_session.get(FiledApp, pending.id)
    assert (filed.status, filed.app_filing_no, filed.access_code, filed.review_opinion) == (
        "rejected", "APPTEST0001", None, "材料不全")


def test_the_same_decision_resent_is_already_recorded(client, db_session, pending):
    body = decision_body(pending.id)
    assert _post(client, body).get_json() == {"result": "recorded"}
    again = _post(client, body)  # a fresh nonce, the same decision
    assert again.status_code == 200 and again.get_json() == {"result": "already_recorded"}
    assert _decisions(db_session, pending.id) == 1


@pytest.mark.parametrize("change", [{"access_code": "330101000043"}, {"outcome": "rejected"},
                                    {"opinion": "另一意见"}, {"decision_no": "ZJSP-2026-0099"}])
def test_attack_a_different_decision_for_a_decided_filing_is_refused(client, db_session, pending, change):
    assert _post(client, decision_body(pending.id)).status_code == 200
    response = _post(client, decision_body(pending.id, **change))
    assert response.status_code == 409 and response.get_json()["error"] == "already_decided"
    db_session.expire_all()
    assert _decisions(db_session, pending.id) == 1
    assert db_session.get(FiledApp, pending.id).access_code == "330101000042"


def _bad_headers(body: bytes, how: str) -> dict:
    headers = signed(body)
    if how == "unsigned":
        return {"Content-Type": "application/json"}
    if how == "bad_signature":
        return {**headers, "X-Erhc-Signature": "0" * 64}
    if how == "wrong_secret":
        return signed(body, secret="not-the-province-verify-secret")
    if how == "wrong_app_id":
        return signed(body, app_id="someone-else")
    if how == "stale":
        return signed(body, stamp=int(time.time()) - 301)
    if how == "future":
        return signed(body, stamp=int(time.time()) + 301)
    if how == "other_path":
        return signed(body, path="/api/v1/province/verify")
    raise AssertionError(how)


@pytest.mark.parametrize("how,reason", [
    ("unsigned", "unknown_app_id"), ("bad_signature", "bad_signature"), ("wrong_secret", "bad_signature"),
    ("wrong_app_id", "unknown_app_id"), ("stale", "stale_timestamp"), ("future", "stale_timestamp"),
    ("other_path", "bad_signature")])
def test_attack_an_unsigned_or_badly_signed_decision_is_refused(client, db_session, pending, how, reason):
    body = decision_body(pending.id)
    response = _post(client, body, _bad_headers(body, how))
    assert response.status_code == 401 and response.get_json()["error"] == reason
    assert _decisions(db_session, pending.id) == 0 and db_session.get(FiledApp, pending.id).status == "province_pending"


def test_attack_a_replayed_decision_call_is_refused(client, db_session, staff, upload_dir, pending):
    """The province's request for one filing, replayed verbatim for another awaiting filing."""
    other = pending_filing(db_session, *staff, app_name="另一个App", app_filing_no="APPTEST0002")
    db_session.commit()
    body = decision_body(pending.id)
    headers = signed(body)
    assert _post(client, body, headers).status_code == 200
    replay = _post(client, body, headers)
    assert replay.status_code == 401 and replay.get_json()["error"] == "replayed_nonce"
    body_other = decision_body(other.id, access_code="330101000044", app_filing_no="ZJBA3301-0044")
    reused = _post(client, body_other, {**signed(body_other, nonce=headers["X-Erhc-Nonce"])})
    assert reused.status_code == 401 and reused.get_json()["error"] == "replayed_nonce"
    assert _decisions(db_session, other.id) == 0


def test_a_decision_for_an_unknown_filing_is_404(client, db_session, pending):
    response = _post(client, decision_body(pending.id + 1000))
    assert response.status_code == 404 and response.get_json()["error"] == "unknown_filing"


@pytest.mark.parametrize("state", ["draft", "submitted", "city_rejected"])
def test_attack_a_decision_for_a_filing_not_sent_to_the_province_is_refused(client, db_session, staff, state):
    reviewer, checker = staff
    filed = services.create_application(db_session, {**FIELDS, "auth_methods": "2"}, actor_id=reviewer.id)
    if state != "draft":
        filed.ui_design_files = [{"file": "x.png"}]
        services.transition(db_session, filed, "submit", actor_id=reviewer.id)
    if state == "city_rejected":
        services.transition(db_session, filed, "reject", actor_id=checker.id, opinion="材料不全")
    db_session.commit()
    response = _post(client, decision_body(filed.id))
    assert response.status_code == 409 and response.get_json()["error"] == "not_pending"
    assert _decisions(db_session, filed.id) == 0 and db_session.get(FiledApp, filed.id).access_code is None


@pytest.mark.parametrize("change,reason", [
    ({"access_code": "33010A"}, "bad_access_code"), ({"access_code": "12345"}, "bad_access_code"),
    ({"app_filing_no": "备案号"}, "bad_filing_no"), ({"app_filing_no": "A" * 21}, "too_long"),
    ({"opinion": "  "}, "opinion_required"), ({"opinion": "意" * 501}, "too_long"),
    ({"decided_on": "2026-02-30"}, "bad_date"), ({"decided_on": "2999-01-01"}, "date_in_future"),
    ({"decided_on": "2020-01-01"}, "date_before_submission"), ({"outcome": "maybe"}, "bad_outcome"),
    ({"access_code": 330101000042}, "bad_type"), ({"filing_id": "1"}, "bad_filing_id"),
    ({"decision_no": ""}, "bad_decision_no"), ({"extra": 1}, "unknown_field")])
def test_format_errors_are_422_with_the_console_reason_codes(client, db_session, pending, change, reason):
    body = json.loads(decision_body(pending.id))
    body.update(change)
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    response = _post(client, raw)
    assert response.status_code == 422 and response.get_json()["error"] == reason
    assert _decisions(db_session, pending.id) == 0 and db_session.get(FiledApp, pending.id).status == "province_pending"


def test_a_number_another_app_holds_is_refused(client, db_session, pending, demo_app):
    response = _post(client, decision_body(pending.id, access_code=demo_app.access_code))
    assert response.status_code == 422 and response.get_json()["error"] == "duplicate_access_code"


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", "{\"filing_id\": 1,".encode(), b"\xff\xfe"])
def test_a_signed_malformed_body_is_422_and_uses_its_nonce(client, db_session, pending, raw):
    headers = signed(raw)
    response = _post(client, raw, headers)
    assert response.status_code == 422 and response.get_json()["error"] == "bad_request"
    assert _post(client, raw, headers).get_json()["error"] == "replayed_nonce"


def test_an_oversized_body_is_413(client, pending):
    raw = b"{" + b" " * 20000 + b"}"
    response = _post(client, raw)
    assert response.status_code == 413 and response.get_json()["error"] == "too_large"
