"""The sandbox province's filing reviewer: suggested numbers, its own format checks, a rejection, and
a city that cannot be reached (the decision stays, with a button to send it again)."""
from __future__ import annotations

import re

import requests
from sqlalchemy import select

from erhc_h5.filing.models import FiledApp
from erhc_h5.sandbox.models import SandboxProvinceFiling
from tests.factories import pending_filing, sandbox_filing
from tests.filing.exchange import checker, reviewer, staff, upload_dir, wire  # noqa: F401


def _received(db_session, staff, **fields) -> tuple[FiledApp, SandboxProvinceFiling]:
    filed = pending_filing(db_session, *staff, **fields)
    db_session.commit()
    row = db_session.scalar(select(SandboxProvinceFiling).where(SandboxProvinceFiling.city_filing_id == filed.id))
    assert row is not None and row.status == "received"
    return filed, row


def test_suggested_numbers_skip_those_the_province_already_assigned(db_session, staff, wire):
    _, row = _received(db_session, staff)
    sandbox_filing(db_session, 999, status="approved", opinion="x", city_reply="", app_filing_no="ZJBA330120260002",
                   access_code="330101000002")
    db_session.commit()
    page = wire.province.get(f"/sandbox-province/filings/{row.id}").get_data(as_text=True)
    # one number assigned so far: the next is the 2nd, which is taken, so the 3rd is offered
    assert re.search(r'name="access_code"[^>]*value="330101000003"', page)
    assert re.search(r'name="app_filing_no"[^>]*value="ZJBA3301\d{4}0003"', page)


def test_the_province_refuses_malformed_numbers_and_tells_the_city_nothing(db_session, staff, wire):
    filed, row = _received(db_session, staff)
    for bad in ({"access_code": "33A1"}, {"app_filing_no": "备案 1"}, {"opinion": ""}):
        data = {"outcome": "approved", "app_filing_no": "ZJ-OK-1", "access_code": "330101000011",
                "opinion": "同意", **bad}
        response = wire.province.post(f"/sandbox-province/filings/{row.id}/decide", data=data)
        assert response.status_code == 422 and 'role="alert"' in response.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(SandboxProvinceFiling, row.id).status == "received" and wire.decisions == []
    assert db_session.get(FiledApp, filed.id).status == "province_pending"


def test_a_rejection_reaches_the_city_with_its_opinion(db_session, staff, wire):
    filed, row = _received(db_session, staff)
    response = wire.province.post(f"/sandbox-province/filings/{row.id}/decide", data={
        "outcome": "rejected", "app_filing_no": "", "access_code": "", "opinion": "界面设计不符合规范"})
    assert response.status_code == 302
    db_session.expire_all()
    filed = db_session.get(FiledApp, filed.id)
    assert (filed.status, filed.access_code, filed.review_opinion) == ("rejected", None, "界面设计不符合规范")
    assert db_session.get(SandboxProvinceFiling, row.id).city_reply == "recorded"


def test_a_city_that_cannot_be_reached_gets_the_decision_when_sent_again(app, db_session, staff, wire):
    filed, row = _received(db_session, staff)
    reach_city = wire.to_city

    def unreachable(url, body, headers):
        raise requests.ConnectionError("city down")

    app.extensions["erhc_sandbox_city_transport"] = unreachable
    decided = wire.province.post(f"/sandbox-province/filings/{row.id}/decide", data={
        "outcome": "approved", "app_filing_no": "ZJ-RETRY-1", "access_code": "330101000021", "opinion": "同意"})
    page = wire.province.get(decided.headers["Location"]).get_data(as_text=True)
    assert "未能送达城市平台" in page and "重新发送至城市平台" in page
    db_session.expire_all()
    assert db_session.get(FiledApp, filed.id).status == "province_pending"
    app.extensions["erhc_sandbox_city_transport"] = reach_city
    assert wire.province.post(f"/sandbox-province/filings/{row.id}/notify").status_code == 302
    db_session.expire_all()
    filed = db_session.get(FiledApp, filed.id)
    assert (filed.status, filed.app_filing_no, filed.access_code) == ("approved", "ZJ-RETRY-1", "330101000021")
    assert db_session.get(SandboxProvinceFiling, row.id).city_reply == "recorded"
    # sending it once more is harmless: the city says it already holds that decision
    assert wire.province.post(f"/sandbox-province/filings/{row.id}/notify").status_code == 302
    db_session.expire_all()
    assert db_session.get(SandboxProvinceFiling, row.id).city_reply == "already_recorded"


def test_a_delivery_sent_again_after_the_decision_makes_no_second_application(app, db_session, staff, wire):
    """The province stored the 申请表 but its reply was lost: the city sends the same delivery again."""
    from erhc_h5.filing.delivery import deliver_pending
    from erhc_h5.filing.models import FilingDelivery

    filed, row = _received(db_session, staff)
    wire.province.post(f"/sandbox-province/filings/{row.id}/decide", data={
        "outcome": "approved", "app_filing_no": "ZJ-ONCE-1", "access_code": "330101000031", "opinion": "同意"})
    delivery = db_session.scalar(select(FilingDelivery).where(FilingDelivery.app_id == filed.id))
    delivery.state = "pending"
    db_session.commit()
    assert deliver_pending(db_session) == {"delivered": 1, "failed": 0}
    db_session.expire_all()
    held = db_session.scalars(select(SandboxProvinceFiling).where(
        SandboxProvinceFiling.city_filing_id == filed.id)).all()
    assert [(h.status, h.access_code) for h in held] == [("approved", "330101000031")]
