"""The electronic filing path in-process: the city delivers the 申请表 after its commit, the sandbox
province receives it, its reviewer approves on the page, the decision comes back signed and the app
launches with exactly the numbers typed at the province."""
from __future__ import annotations

import hashlib
import json
import re

from sqlalchemy import select

from erhc_h5.filing import services, uploads
from erhc_h5.filing.models import FiledApp, FilingDecision, FilingDelivery
from erhc_h5.records.models import AuthRecord
from erhc_h5.resident.launch import make_launch_url
from erhc_h5.sandbox.models import SandboxProvinceFiling
from tests.factories import image_bytes, pending_filing
from tests.filing.exchange import APPLICATIONS, signed
from tests.filing.helpers import FIELDS, beijing_today


def _draft_submitted(db_session, reviewer, **fields) -> FiledApp:
    filed = services.create_application(db_session, {**FIELDS, "auth_methods": "1^2^3^4", **fields},
                                        actor_id=reviewer.id)
    uploads.add_screen(db_session, filed, image_bytes("PNG"), actor_id=reviewer.id)
    services.transition(db_session, filed, "submit", actor_id=reviewer.id)
    db_session.commit()
    return filed


def test_the_whole_path_from_city_review_to_a_record_carrying_the_province_numbers(
        app, client, auth, db_session, staff, upload_dir, wire):
    filed = _draft_submitted(db_session, staff[0])
    auth.login("admin")  # the city's second pair of eyes sends it to the province
    sent_off = client.post(f"/staff/filing/{filed.id}/approve", data={"review_opinion": "同意报省"})
    sent_off.close()  # the server closes the response: the delivery goes out then, after the commit
    assert sent_off.status_code == 302
    (url, body, headers), = wire.sent
    assert url == "http://province.test" + APPLICATIONS
    sent = json.loads(body)
    assert sent["filing_id"] == filed.id and sent["cd_source"] == "3301" and sent["auth_methods"] == ["1", "2", "3", "4"]
    assert sent["app_name"] == FIELDS["app_name"] and sent["builder_contact"] == FIELDS["builder_contact"]
    expected = signed(body, path=APPLICATIONS, secret=app.config["PROVINCE_SECRET"], app_id="sandbox-city-3301",
                      stamp=int(headers["X-Erhc-Timestamp"]), nonce=headers["X-Erhc-Nonce"])
    assert headers["X-Erhc-Signature"] == expected["X-Erhc-Signature"]
    assert "已电子报送省级" in client.get(f"/staff/filing/{filed.id}").get_data(as_text=True)

    received = db_session.scalar(select(SandboxProvinceFiling).where(SandboxProvinceFiling.city_filing_id == filed.id))
    assert received.status == "received" and received.form["app_name"] == FIELDS["app_name"]
    province = wire.province
    page = province.get(f"/sandbox-province/filings/{received.id}").get_data(as_text=True)
    assert re.search(r'name="app_filing_no"[^>]*value="ZJBA3301\d{4}0001"', page)
    assert re.search(r'name="access_code"[^>]*value="330101000001"', page)
    decided = province.post(f"/sandbox-province/filings/{received.id}/decide", data={
        "outcome": "approved", "app_filing_no": "ZJ-PROV-7731", "access_code": "330102007731",
        "opinion": "同意备案,请按规范接入"})
    assert decided.status_code == 302
    assert "已登记" in province.get(decided.headers["Location"]).get_data(as_text=True)

    db_session.expire_all()
    filed = db_session.get(FiledApp, filed.id)
    assert (filed.status, filed.app_filing_no, filed.access_code) == ("approved", "ZJ-PROV-7731", "330102007731")
    assert filed.province_decided_on.isoformat() == beijing_today() and filed.review_opinion == "同意备案,请按规范接入"
    decision = db_session.scalar(select(FilingDecision).where(FilingDecision.app_id == filed.id))
    (decision_raw,) = wire.decisions
    assert decision.source == "province" and decision.signed_body_sha256 == hashlib.sha256(decision_raw).hexdigest()

    secret = services.rotate_secret(db_session, filed, actor_id=None, actor_type="cli")
    db_session.commit()
    resident = app.test_client()
    launched = resident.get(make_launch_url(filed, "exchange-user", secret))
    assert launched.status_code == 302, re.findall(r'data-reason="[a-z_]+"', launched.get_data(as_text=True))
    assert resident.post("/h5/consent", data={"agree": "y"}).status_code == 302
    assert resident.post("/h5/identity", data={"name": "测试丙", "id_card_type_code": "01",
                                               "idcode": "330106199003071236"}).status_code == 302
    assert resident.post("/h5/profile", data={"nation": "01", "phone": "13800000003", "county_code": "330106",
                                              "current_address": "测试路3号", "linkman": "", "telephone": ""}
                         ).status_code == 302
    assert resident.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"
    db_session.expire_all()
    record = db_session.scalar(select(AuthRecord).where(AuthRecord.app_record_no == "330102007731"))
    assert record.payload["app_record_no"] == "330102007731"
    assert record.payload["app_record_no_recognize"] == "ZJ-PROV-7731"


def test_the_province_down_never_blocks_the_city_and_the_delivery_is_retried(
        app, client, auth, db_session, staff, upload_dir, wire):
    filed = _draft_submitted(db_session, staff[0])
    wire.down = True
    auth.login("admin")
    sent_off = client.post(f"/staff/filing/{filed.id}/approve", data={"review_opinion": "同意报省"})
    sent_off.close()  # the server closes the response: the delivery goes out then, after the commit
    assert sent_off.status_code == 302
    db_session.expire_all()
    assert db_session.get(FiledApp, filed.id).status == "province_pending"
    row = db_session.scalar(select(FilingDelivery).where(FilingDelivery.app_id == filed.id))
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "ConnectionError")
    assert "报送失败(将重试)" in client.get(f"/staff/filing/{filed.id}").get_data(as_text=True)
    assert wire.sent == []

    wire.down = False
    result = app.test_cli_runner().invoke(args=["filing", "deliver"])
    assert json.loads(result.output.strip().splitlines()[-1]) == {"delivered": 1, "failed": 0}
    db_session.expire_all()
    row = db_session.get(FilingDelivery, row.id)
    assert (row.state, row.attempts) == ("delivered", 2)
    assert db_session.scalar(select(SandboxProvinceFiling.status).where(
        SandboxProvinceFiling.city_filing_id == filed.id)) == "received"
    assert json.loads(app.test_cli_runner().invoke(args=["filing", "deliver"]).output) == {"delivered": 0, "failed": 0}


def test_paper_only_when_the_province_offers_no_electronic_path(db_session, staff, upload_dir):
    filed = pending_filing(db_session, *staff)
    db_session.commit()
    assert db_session.scalar(select(FilingDelivery).where(FilingDelivery.app_id == filed.id)) is None


def test_attack_the_sandbox_province_refuses_unsigned_or_replayed_applications(app, db_session, wire):
    body = json.dumps({"filing_id": 99, "cd_source": "3301", "app_name": "伪造App", "org_name": "x",
                       "builder_unit": "x", "developer_unit": "x", "auth_methods": ["2"]},
                      ensure_ascii=False).encode()
    province = wire.province
    assert province.post(APPLICATIONS, data=body, headers={"Content-Type": "application/json"}).status_code == 401
    wrong = signed(body, path=APPLICATIONS, secret="not-the-city-secret", app_id="sandbox-city-3301")
    assert province.post(APPLICATIONS, data=body, headers=wrong).status_code == 401
    good = signed(body, path=APPLICATIONS, secret=app.config["PROVINCE_SECRET"], app_id="sandbox-city-3301")
    assert province.post(APPLICATIONS, data=body, headers=good).status_code == 200
    assert province.post(APPLICATIONS, data=body, headers=good).get_json()["error"] == "replayed_nonce"
    db_session.expire_all()
    assert len(db_session.scalars(select(SandboxProvinceFiling).where(
        SandboxProvinceFiling.city_filing_id == 99)).all()) == 1
