"""Cancelling a card: by its verified holder in the H5, or by an operator on request with an audited reason."""
from __future__ import annotations

from sqlalchemy import select

from erhc_h5.audit import AuditEntry
from erhc_h5.records.models import AuthRecord
from erhc_h5.cards.models import EHealthCard
from tests.support import IDENTITY


def _passed_card(journey, db_session) -> EHealthCard:
    journey.ready()
    assert journey.client.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"
    return db_session.scalar(select(EHealthCard))


def test_resident_cancels_with_confirmation(journey, client, db_session):
    card = _passed_card(journey, db_session)
    page = client.get("/h5/code/cancel").get_data(as_text=True)
    assert "确认注销" in page and IDENTITY["idcode"] not in page
    assert client.post("/h5/code/cancel", data={}).status_code == 400
    db_session.expire_all()
    assert db_session.get(EHealthCard, card.id).status == "active"
    client.post("/h5/code/cancel", data={"confirm": "y"})
    db_session.expire_all()
    assert db_session.get(EHealthCard, card.id).status == "cancelled"
    ops = db_session.scalars(select(AuthRecord.cd_operation).order_by(AuthRecord.version)).all()
    assert ops == ["i", "d"]
    assert client.get("/h5/code/cancel").headers["Location"] == "/h5/service"  # nothing left to cancel


def test_provisional_holder_cannot_cancel(journey, client, db_session):
    journey.ready()
    client.post("/h5/verify/onsite")
    card = db_session.scalar(select(EHealthCard))
    assert card.recognize_flag == 0
    client.post("/h5/code/cancel", data={"confirm": "y"})
    db_session.expire_all()
    assert db_session.get(EHealthCard, card.id).status == "active"


def test_operator_cancels_on_request_with_an_audited_reason(journey, client, db_session, auth):
    card = _passed_card(journey, db_session)
    staff = client.application.test_client()
    assert staff.post("/staff/login", data=auth.users["operator"]).status_code == 302
    found = staff.post("/staff/cards/", data={"id_card_type_code": "02", "idcode": IDENTITY["idcode"]})
    page = found.get_data(as_text=True)
    assert "确认注销" in page and IDENTITY["idcode"] not in page  # found under another type: one person
    refused = staff.post(f"/staff/cards/{card.id}/cancel", data={"reason": "本人申请", "confirmed": ""})
    assert refused.status_code == 400
    reason = f"居民本人申请注销,证件{IDENTITY['idcode']},电话13812345678"  # staff type what they see
    done = staff.post(f"/staff/cards/{card.id}/cancel", data={"reason": reason, "confirmed": "y"})
    assert done.status_code == 302
    db_session.expire_all()
    assert db_session.get(EHealthCard, card.id).status == "cancelled"
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "card.cancelled"))
    assert entry.detail["reason"] == "居民本人申请注销,证件3301**********1236,电话138****5678"
    assert entry.actor_type == "staff"
    again = staff.post(f"/staff/cards/{card.id}/cancel", data={"reason": "再次申请注销", "confirmed": "y"})
    assert again.status_code == 302
    ops = db_session.scalars(select(AuthRecord.cd_operation).order_by(AuthRecord.version)).all()
    assert ops == ["i", "d"]  # a second cancellation writes nothing


def test_nurse_cannot_cancel(journey, client, db_session, auth):
    card = _passed_card(journey, db_session)
    staff = client.application.test_client()
    staff.post("/staff/login", data=auth.users["nurse"])
    assert staff.post(f"/staff/cards/{card.id}/cancel", data={"reason": "试试看看", "confirmed": "y"}).status_code == 403
