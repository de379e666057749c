"""Card issuance writes the card, its record version and the outbox entry together."""
from __future__ import annotations

from sqlalchemy import select, text

from erhc_h5.filing.models import FiledApp
from erhc_h5.records.models import AuthRecord
from erhc_h5.cards.service import cancel_card, issue_or_update_card
from erhc_h5.sync.models import OutboxEntry

IDENTITY = {
    "name": "张三丰", "id_card_type_code": "01", "idcode": "330106199003071236",
    "nation": "01", "phone": "13812345678", "county_code": "330106",
}


def _demo_app(db_session, seeded) -> FiledApp:
    return db_session.scalar(select(FiledApp).where(FiledApp.access_code == seeded["app_record_no"]))


def test_pass_then_upgrade_then_cancel(db_session, seeded):
    app = _demo_app(db_session, seeded)
    card = issue_or_update_card(db_session, dict(IDENTITY), app, methods="1")
    db_session.commit()
    assert card.recognize_flag == 1 and card.sex == "1" and card.birthday == "1990-03-07"
    assert len(card.erhc_card_no) == 64 and card.erhc_card_no == card.erhc_card_no.upper()
    issue_or_update_card(db_session, dict(IDENTITY), app, methods="3^4")
    cancel_card(db_session, card)
    db_session.commit()
    versions = db_session.scalars(select(AuthRecord).where(AuthRecord.card_id == card.id).order_by(AuthRecord.version)).all()
    assert [v.cd_operation for v in versions] == ["i", "u", "d"]
    assert len({v.record_id for v in versions}) == 1
    assert versions[1].payload["authentication_method"] == "1^3^4"
    assert versions[0].cd_time < versions[1].cd_time < versions[2].cd_time
    assert versions[0].payload["app_record_no"] == seeded["app_record_no"]
    assert versions[0].payload["app_record_no_recognize"] == seeded["app_record_no_recognize"]
    outbox = db_session.scalars(select(OutboxEntry).where(OutboxEntry.auth_record_id.in_([v.id for v in versions]))).all()
    assert len(outbox) == 3 and {o.state for o in outbox} == {"pending"}


def test_registration_awaiting_its_check_sends_nothing_upward_until_it_passes(db_session, seeded):
    app = _demo_app(db_session, seeded)
    card = issue_or_update_card(db_session, dict(IDENTITY), app, methods=None)
    db_session.commit()
    assert card.recognize_flag == 0 and card.assurance_level == 0
    assert db_session.scalar(select(AuthRecord).where(AuthRecord.card_id == card.id)) is None
    issue_or_update_card(db_session, dict(IDENTITY), app, methods="4")
    db_session.commit()
    versions = db_session.scalars(select(AuthRecord).where(AuthRecord.card_id == card.id)).all()
    # The province first hears of the person when the check passed: an insert, authenticated.
    assert [(v.version, v.cd_operation, v.recognize_flag) for v in versions] == [(1, "i", 1)]


def test_personal_data_is_not_stored_in_clear(db_session, seeded):
    app = _demo_app(db_session, seeded)
    issue_or_update_card(db_session, dict(IDENTITY), app, methods="2")
    db_session.commit()
    conn = db_session.connection()
    for table in ("ehealth_cards", "auth_records"):
        rows = conn.execute(text(f"SELECT * FROM {table}")).all()
        dump = repr(rows)
        assert rows and IDENTITY["idcode"] not in dump and IDENTITY["phone"] not in dump
        assert IDENTITY["name"] not in dump
