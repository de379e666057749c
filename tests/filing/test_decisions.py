"""The province's decision: format checks on literal specimens, uniqueness, who may record it, what
it opens (launch) and where its numbers go (the queued record)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from erhc_h5.sandbox import demo
from erhc_h5.audit import AuditEntry
from erhc_h5.filing import decisions, services, uploads
from erhc_h5.filing.decisions import DecisionInput, record_decision
from erhc_h5.filing.models import DecisionSource, FiledApp, FilingDecision
from erhc_h5.records.models import AuthRecord
from erhc_h5.resident.launch import LaunchError, make_launch_url, verify_launch
from erhc_h5.sync.models import OutboxEntry
from tests.factories import image_bytes
from tests.filing.helpers import FIELDS, PDF, beijing_today, decision_data

BEIJING = dt.timezone(dt.timedelta(hours=8))
JPEG = image_bytes("JPEG")
PNG = image_bytes("PNG")


def _given(**changes) -> DecisionInput:
    values = {"outcome": "approved", "opinion": "同意备案", "decided_on": beijing_today(),
              "app_filing_no": "ZJ-3301-2026-0005", "access_code": "330100000005", "form_data": PDF, **changes}
    return DecisionInput(**values)


def _record(db_session, filed, recorder, **changes):
    return record_decision(db_session, filed, _given(**changes), actor_id=recorder.id,
                           source=DecisionSource.CONSOLE, issue_secret=True)


@pytest.mark.parametrize("code", ["330100000001", "123456", "33010000000000000001", "330100123456"])
def test_access_code_good_specimens(db_session, pending, code):
    assert decisions.check_access_code(db_session, code, pending) == code


@pytest.mark.parametrize("code,reason", [
    ("", "required"), ("   ", "required"), ("12345", "bad_access_code"),
    ("330100000000000000001", "bad_access_code"),  # 21 digits: over AN20
    ("3301-00-000001", "bad_access_code"), ("33010O000001", "bad_access_code"),  # letter O
    ("３３０１００００００１２", "bad_access_code"),  # full-width digits
    ("330100DEMO0001", "bad_access_code"), ("3301 00000001", "bad_access_code"),
])
def test_access_code_bad_specimens(db_session, pending, code, reason):
    with pytest.raises(services.FilingError) as info:
        decisions.check_access_code(db_session, code, pending)
    assert (info.value.reason, info.value.field) == (reason, "access_code")
    assert re.search("[\u4e00-\u9fff]", str(info.value))


@pytest.mark.parametrize("number", ["A", "ZJ-3301-2026-0002", "AN_20_CHARACTERS_OK1", "20260001"])
def test_filing_no_good_specimens(db_session, pending, number):
    assert services.check_filing_no(db_session, number, pending, required=True) == number


@pytest.mark.parametrize("number,reason", [
    ("", "required"), ("X" * 21, "too_long"), ("浙备2026001", "bad_filing_no"), ("ZJ 3301", "bad_filing_no"),
    ("ZJ/3301", "bad_filing_no"), ("ZJ.3301", "bad_filing_no"),
])
def test_filing_no_bad_specimens(db_session, pending, number, reason):
    with pytest.raises(services.FilingError) as info:
        services.check_filing_no(db_session, number, pending, required=True)
    assert (info.value.reason, info.value.field) == (reason, "app_filing_no")


def test_decision_date_rules(pending):
    today = dt.datetime.now(BEIJING).date()
    assert decisions.parse_decided_on(today.isoformat(), pending) == today
    cases = {"": "date_required", "2026/12/01": "bad_date", "2026-02-30": "bad_date", "26-12-01": "bad_date",
             (today + dt.timedelta(days=1)).isoformat(): "date_in_future",
             (today - dt.timedelta(days=1)).isoformat(): "date_before_submission"}
    for text, reason in cases.items():
        with pytest.raises(services.FilingError) as info:
            decisions.parse_decided_on(text, pending)
        assert info.value.reason == reason, text


def test_opinion_rules():
    assert decisions.check_opinion("  同意  ") == "同意"
    assert decisions.check_opinion("意" * 500) == "意" * 500
    for text, reason in (("", "opinion_required"), (" \n", "opinion_required"), ("意" * 501, "too_long")):
        with pytest.raises(services.FilingError) as info:
            decisions.check_opinion(text)
        assert info.value.reason == reason


def test_stamped_form_is_told_by_its_first_bytes(app):
    assert uploads.check_stamped_form(PDF) == ".pdf"
    assert uploads.check_stamped_form(PNG) == ".png"
    assert uploads.check_stamped_form(JPEG) == ".jpg"
    refused = {b"GIF89a\x01\x00": "form_bad_type", b"PK\x03\x04zip": "form_bad_type",
               b"<html>%PDF-": "form_bad_type", b" %PDF-1.4": "form_bad_type", b"": "form_required"}
    for data, reason in refused.items():
        with pytest.raises(services.FilingError) as info:
            uploads.check_stamped_form(data)
        assert info.value.reason == reason, data
    app.config["UPLOAD_MAX_BYTES"] = 64
    with pytest.raises(services.FilingError) as info:
        uploads.check_stamped_form(b"%PDF-" + b"0" * 64)
    assert info.value.reason == "form_too_large"


def test_approval_needs_the_stamped_form_in_the_console(db_session, pending, checker):
    with pytest.raises(services.FilingError) as info:
        _record(db_session, pending, checker, form_data=None)
    assert info.value.reason == "form_required" and pending.status == "province_pending"


def _nothing_written(db_session, filed_id):
    db_session.rollback()
    filed = db_session.get(FiledApp, filed_id)
    decided = db_session.scalar(select(func.count()).select_from(FilingDecision)
                                .where(FilingDecision.app_id == filed_id))
    return filed.status == "province_pending" and filed.access_code is None and decided == 0


def test_numbers_another_app_holds_are_refused(db_session, pending, checker, seeded):
    filed_id = pending.id
    db_session.commit()
    for changes, reason in (({"access_code": seeded["app_record_no"]}, "duplicate_access_code"),
                            ({"app_filing_no": seeded["app_record_no_recognize"]}, "duplicate_filing_no")):
        with pytest.raises(services.FilingError) as info:
            _record(db_session, db_session.get(FiledApp, filed_id), checker, **changes)
        assert info.value.reason == reason and "已被其他应用使用" in str(info.value)
        assert _nothing_written(db_session, filed_id)


def test_numbers_clash_over_http_is_a_chinese_422(client, auth, db_session, pending, seeded):
    db_session.commit()
    auth.login("admin")
    response = client.post(f"/staff/filing/{pending.id}/decision", content_type="multipart/form-data",
                           data=decision_data(access_code=seeded["app_record_no"]))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "该接入组件入网编码已被其他应用使用" in html
    assert _nothing_written(db_session, pending.id)


def test_bad_decision_over_http_shows_every_field_message(client, auth, db_session, pending):
    db_session.commit()
    auth.login("admin")
    for changes, message in (({"access_code": "3301-A"}, "接入组件入网编码应为6至20位数字"),
                             ({"decided_on": "2026-13-01"}, "省级审批日期格式应为YYYY-MM-DD"),
                             ({"opinion": ""}, "请填写管理单位意见"),
                             ({"form": b"GIF89a"}, "盖章申请表只能是PDF、PNG或JPEG文件")):
        form = changes.pop("form", PDF)
        response = client.post(f"/staff/filing/{pending.id}/decision", content_type="multipart/form-data",
                               data=decision_data(form=form, **changes))
        html = response.get_data(as_text=True)
        assert response.status_code == 422 and message in html and 'aria-invalid="true"' in html, message
    assert _nothing_written(db_session, pending.id)


def test_decision_form_marks_required_fields(client, auth, db_session, pending):
    db_session.commit()
    auth.login("admin")
    html = client.get(f"/staff/filing/{pending.id}").get_data(as_text=True)
    for label in ("省级审批结果 *", "应用备案号(省级分配)*", "接入组件入网编码(省级分配)*", "管理单位意见 *",
                  "省级审批日期 *", "加盖管理单位印章的申请表(PDF、PNG或JPEG)*"):
        assert label in html, label


def test_province_rejection_records_the_opinion_and_no_number(db_session, pending, checker, reviewer):
    decision, secret = _record(db_session, pending, checker, outcome="rejected", opinion="界面设计不符合要求",
                               app_filing_no="", access_code="", form_data=None)
    assert secret is None and decision.outcome == "rejected" and decision.access_code is None
    assert pending.status == "rejected" and pending.review_opinion == "界面设计不符合要求" and not pending.can_launch
    services.update_application(db_session, pending, FIELDS, actor_id=reviewer.id)
    assert pending.status == "draft"
    with pytest.raises(services.FilingError) as info:
        _record(db_session, pending, checker, outcome="rejected", opinion="")
    assert info.value.reason == "not_pending"


def test_rejection_needs_an_opinion(db_session, pending, checker):
    with pytest.raises(services.FilingError) as info:
        _record(db_session, pending, checker, outcome="rejected", opinion=" ")
    assert info.value.reason == "opinion_required" and pending.status == "province_pending"


def test_launch_is_refused_until_the_province_decides(app, db_session, pending, checker):
    """A city-approved filing that somehow holds a secret still cannot launch: not approved."""
    pending.launch_secret = "s" * 64
    db_session.commit()
    url = make_launch_url(pending, "user-1", pending.launch_secret, nonce="a" * 32)
    with app.test_request_context(url):
        from flask import request

        with pytest.raises(LaunchError) as info:
            verify_launch(db_session, request.args, max_skew=300)
    assert info.value.reason == "app_not_approved"
    page = app.test_client().get(url)
    assert page.status_code >= 400 and 'data-reason="app_not_approved"' in page.get_data(as_text=True)
    _, secret = _record(db_session, pending, checker)
    url = make_launch_url(pending, "user-1", secret, nonce="b" * 32)
    with app.test_request_context(url):
        from flask import request

        launch = verify_launch(db_session, request.args, max_skew=300)
    assert launch.app.id == pending.id and pending.app_filing_no == "ZJ-3301-2026-0005"


def test_attack_the_author_cannot_record_the_decision(app, client, auth, db_session, pending):
    """demo-reviewer drafted and submitted the filing: recording the province's numbers is refused."""
    db_session.commit()
    auth.login("reviewer")
    response = client.post(f"/staff/filing/{pending.id}/decision", content_type="multipart/form-data",
                           data=decision_data())
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "不能由您本人" in html and "登记省级审批结果" in html
    assert _nothing_written(db_session, pending.id)
    refused = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "filing.four_eyes_refused",
                                                         AuditEntry.target_id == str(pending.id)))
    assert refused is not None and refused.detail["action"] == "decide"


def test_attack_the_submitter_cannot_record_the_decision(db_session, pending, reviewer):
    with pytest.raises(services.FilingError) as info:
        _record(db_session, pending, reviewer)
    assert info.value.reason == "four_eyes" and pending.status == "province_pending"


def test_attack_a_nurse_cannot_record_the_decision(client, auth, db_session, pending):
    db_session.commit()
    auth.login("nurse")
    response = client.post(f"/staff/filing/{pending.id}/decision", content_type="multipart/form-data",
                           data=decision_data())
    assert response.status_code == 403 and _nothing_written(db_session, pending.id)


def test_stamped_form_is_kept_and_served_to_staff_only(client, auth, db_session, pending, upload_dir):
    db_session.commit()
    auth.login("admin")
    assert client.post(f"/staff/filing/{pending.id}/decision", content_type="multipart/form-data",
                       data=decision_data()).status_code == 200
    decision = db_session.scalar(select(FilingDecision).where(FilingDecision.app_id == pending.id))
    assert decision.form_file and (upload_dir / "filing" / decision.form_file).read_bytes() == PDF
    link = f"/staff/filing/{pending.id}/decisions/{decision.id}/form"
    assert link in client.get(f"/staff/filing/{pending.id}").get_data(as_text=True)
    response = client.get(link)
    assert response.status_code == 200 and response.data == PDF and response.mimetype == "application/pdf"
    assert client.get(f"/staff/filing/{pending.id + 1}/decisions/{decision.id}/form").status_code == 404
    auth.logout()
    auth.login("nurse")
    assert client.get(link).status_code == 403


def test_records_made_through_the_app_carry_the_province_numbers(app, client, db_session, pending, checker):
    """A resident's journey through an app with recorded numbers: the queued record names them."""
    _, secret = _record(db_session, pending, checker, app_filing_no="ZJ-3301-2026-0099",
                        access_code="330100000099")
    db_session.commit()
    assert client.get(make_launch_url(pending, "journey-user", secret)).status_code == 302
    assert client.post("/h5/consent", data={"agree": "y"}).status_code == 302
    assert client.post("/h5/identity", data={"name": "测试乙", "id_card_type_code": "01",
                                             "idcode": "330106199003071236"}).status_code == 302
    profile = {"nation": "01", "phone": "13800000002", "county_code": "330106", "current_address": "测试路2号",
               "linkman": "", "telephone": ""}
    assert client.post("/h5/profile", data=profile).headers["Location"].endswith("/h5/methods")
    assert client.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"
    db_session.expire_all()
    record = db_session.scalar(select(AuthRecord).where(AuthRecord.app_record_no == "330100000099")
                               .order_by(AuthRecord.id.desc()))
    assert record is not None and db_session.scalar(select(OutboxEntry.state).where(
        OutboxEntry.auth_record_id == record.id)) == "pending"
    assert record.payload["app_record_no"] == "330100000099"
    assert record.payload["app_record_no_recognize"] == "ZJ-3301-2026-0099"
    assert record.payload["recognize_flag"] == 1


def test_demo_app_is_province_approved(db_session, seeded):
    filed = db_session.scalar(select(FiledApp).where(FiledApp.app_filing_no == demo.DEMO_APP_FILING_NO))
    decision = decisions.latest_decision(db_session, filed)
    assert filed.can_launch and decision.outcome == "approved" and decision.source == "sandbox"
    assert (decision.app_filing_no, decision.access_code) == (seeded["app_record_no_recognize"],
                                                             seeded["app_record_no"])
    assert re.fullmatch(r"[0-9]{6,20}", seeded["app_record_no"])
