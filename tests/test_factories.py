"""The test-data factory: people checked against published GB 11643 numbers (nothing computed by the code
under test); row builders checked by reading their rows back with plain SQL or using them through the
product's own pages and API."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from erhc_h5.staff.models import StaffUser
from tests.factories import (audit_entry, card_with_code, check_character, demo_app, make_card, make_cards,
                             pending_filing, people, province_record, resident_id, sandbox_filing, scan_device,
                             scan_event, staff_user, sync_batch, verification_session, wrong_check)

# Published specimens: GB 11643-1999's example, python-stdnum's doctest, and numbers printed as
# examples on the ministry's and provinces' public pages (a male and a female, an X-ending one).
PUBLISHED = [
    "11010519491231002X",  # GB 11643-1999 specimen
    "360426199101010071",  # python-stdnum cn.ric doctest
    "440524188001010014",  # GB 11643-1999 annex example
]


@pytest.mark.parametrize("number", PUBLISHED)
def test_check_character_matches_published_numbers(number):
    assert check_character(number[:17]) == number[17]


def test_specimen_is_rebuilt_from_its_parts():
    assert resident_id("110105", dt.date(1949, 12, 31), 2) == "11010519491231002X"


def test_every_check_value_is_reachable_and_x_is_ten():
    seen = {check_character(f"3301061990030712{d}") for d in range(10)}
    seen |= {check_character(f"330106199003071{d}0") for d in range(10)}
    assert "X" in seen and len(seen) == 11


def test_wrong_check_is_wrong_and_people_are_distinct():
    number = resident_id()
    assert wrong_check(number) != number and len(wrong_check(number)) == 18
    crowd = people(500)
    assert len({p["idcode"] for p in crowd}) == 500
    assert all(check_character(p["idcode"][:17]) == p["idcode"][17] for p in crowd)


# -- Row builders: each row read back with plain SQL, or used through the product's own front door --

def _one(db_session, sql: str, **params):
    return db_session.execute(text(sql), params).one()


def test_make_card_issues_through_the_demo_app_and_commits(db_session, seeded):
    card, user, _ = make_card(db_session, seeded, seq=901, methods="2", bind="factory-user")
    db_session.rollback()  # committed: a rollback keeps it
    assert _one(db_session, "SELECT recognize_flag, app_id FROM ehealth_cards WHERE id = :i", i=card.id) == (
        1, demo_app(db_session).id)
    assert _one(db_session, "SELECT card_id FROM app_users WHERE id = :i", i=user.id) == (card.id,)
    unbound, nobody, _ = make_card(db_session, seeded, seq=902, methods=None)
    assert nobody is None
    assert _one(db_session, "SELECT recognize_flag FROM ehealth_cards WHERE id = :i", i=unbound.id) == (0,)


def test_card_with_code_gives_a_code_the_scan_api_accepts(client, db_session, seeded):
    _, code, identity = card_with_code(db_session, seeded, seq=903, methods="2", name="码工厂")
    device = {"Authorization": f"Bearer {seeded['device_token']}"}
    reply = client.post("/api/v1/scan", json={"code": code}, headers=device)
    assert reply.status_code == 200 and reply.json["result"] == "authenticated"
    assert reply.json["resident"]["idcode"] == identity["idcode"] and reply.json["resident"]["name"] == "码工厂"


def test_make_cards_makes_one_card_per_person(db_session, seeded):
    before = _one(db_session, "SELECT count(*) FROM ehealth_cards")[0]
    make_cards(db_session, demo_app(db_session), 3, start=40)
    assert _one(db_session, "SELECT count(*) FROM ehealth_cards")[0] == before + 3


def test_pending_filing_awaits_the_province(app, db_session, seeded, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    users = {u.username: u for u in db_session.scalars(select(StaffUser))}
    filed = pending_filing(db_session, users["demo-reviewer"], users["demo-admin"], app_filing_no="APPFACT001")
    assert _one(db_session, "SELECT status, app_filing_no FROM filed_apps WHERE id = :i", i=filed.id) == (
        "province_pending", "APPFACT001")
    assert any(tmp_path.rglob("*")), "the screenshot was not stored"


def test_staff_user_signs_in_with_the_given_password(client, db_session, seeded):
    staff_user(db_session, "factory.ops", "ops", "a-long-factory-password-1")
    db_session.commit()
    assert _one(db_session, "SELECT role, display_name FROM staff_users WHERE username = 'factory.ops'") == (
        "ops", "factory.ops")
    signed_in = client.post("/staff/login", data={"username": "factory.ops", "password": "a-long-factory-password-1"})
    assert signed_in.status_code == 302 and "/staff/login" not in signed_in.headers["Location"]


def test_scan_device_token_opens_the_scan_api(client, db_session, seeded):
    token = scan_device(db_session, name="工厂扫码枪", site_name="工厂接种点")
    db_session.commit()
    assert _one(db_session, "SELECT site_name, token_hint FROM scan_devices WHERE name = '工厂扫码枪'") == (
        "工厂接种点", token[:8])
    reply = client.post("/api/v1/scan", json={"code": "not-a-code"}, headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 422 and reply.json["error"] == "malformed"  # past the device check
    wrong = client.post("/api/v1/scan", json={"code": "not-a-code"}, headers={"Authorization": "Bearer dev_wrong"})
    assert wrong.status_code == 401


def test_scan_event_sync_batch_and_province_record_rows(db_session, seeded):
    event = scan_event(db_session, "工厂接种点", voucher_no="JZFACTORY0000001")
    assert _one(db_session, "SELECT site_name, result FROM scan_events WHERE voucher_no = 'JZFACTORY0000001'") == (
        "工厂接种点", "authenticated")
    batch = sync_batch(db_session, "3301202612031100001", attempt_rows=[{"outcome": "timeout"}, {"outcome": "ok"}])
    assert _one(db_session, "SELECT state, record_count FROM sync_batches WHERE id = :i", i=batch.id) == ("done", 1)
    outcomes = db_session.execute(text("SELECT outcome FROM sync_attempts WHERE batch_id = :i ORDER BY id"),
                                  {"i": batch.id}).scalars().all()
    assert outcomes == ["timeout", "ok"]
    record = {"id": "F" * 32, "cd_time": "2026-12-03 11:00:00", "cd_operation": "i"}
    province_record(db_session, record, cd_operation="u")
    assert _one(db_session, "SELECT cd_batch, cd_source, cd_operation FROM sandbox_province_records"
                            " WHERE record_id = :r", r="F" * 32) == ("3301202612031000001", "3301", "u")
    assert event.id


def test_verification_session_audit_entry_and_sandbox_filing_rows(db_session, seeded):
    verification_session(db_session, "factory", state="failed", failure_reason="mismatch")
    assert _one(db_session, "SELECT id, method, state, failure_reason FROM verification_sessions"
                            " WHERE id LIKE 'factory%'") == ("factory" + "0" * 25, "2", "failed", "mismatch")
    audit_entry(db_session, "factory.made", target_id="t-1")
    assert _one(db_session, "SELECT actor_type, target_id FROM audit_log WHERE action = 'factory.made'") == (
        "system", "t-1")
    sandbox_filing(db_session, 4242, {"app_name": "工厂应用"}, status="approved")
    assert _one(db_session, "SELECT cd_source, status FROM sandbox_province_filings WHERE city_filing_id = 4242") == (
        "3301", "approved")
