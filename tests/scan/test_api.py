"""The scan API contract: verdicts, reason codes, device tokens, audit, and no 500 for any body."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from erhc_h5.code import tokens
from erhc_h5.cards.service import cancel_card
from erhc_h5.scan.devices import enrol_device, revoke_device
from erhc_h5.scan.models import ScanEvent
from tests.factories import card_with_code, make_card
from tests.scan.bodies import bodies

URL = "/api/v1/scan"


def post(client, token, body, raw=False):
    data = body if raw else json.dumps(body)
    return client.post(URL, data=data, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})


@pytest.fixture
def dev(seeded):
    return seeded["device_token"]


def test_authenticated_resident_comes_back_with_basic_fields_only(client, db_session, seeded, dev):
    card, code, identity = card_with_code(db_session, seeded, methods="2")
    r = post(client, dev, {"code": code})
    assert r.status_code == 200, r.json
    body = r.json
    assert body["result"] == "authenticated"
    assert body["resident"] == {"name": identity["name"], "sex": "1", "birthday": "1990-03-07",
                                "id_card_type_code": "01", "idcode": identity["idcode"], "nation": "01"}
    assert body["authentication_method"] == "2" and body["authenticated_at"]
    assert set(body) == {"result", "resident", "authentication_method", "authenticated_at", "voucher_no", "scanned_at"}
    assert "phone" not in json.dumps(body) and identity["phone"] not in json.dumps(body)
    event = db_session.scalar(select(ScanEvent).order_by(ScanEvent.id.desc()))
    assert event.result == "authenticated" and event.card_id == card.id and event.voucher_no == body["voucher_no"]
    assert event.site_name and event.device_id and event.token_fingerprint == tokens.fingerprint(code)
    assert code not in repr([getattr(event, c.key) for c in ScanEvent.__table__.columns])


def test_not_authenticated_card(client, db_session, seeded, dev):
    card, code, _ = card_with_code(db_session, seeded, methods=None)
    r = post(client, dev, {"code": code})
    assert r.status_code == 200
    assert r.json == {"result": "not_authenticated", "message": "该用户未进行实名认证"}


def _assert_refused(r, reason):
    assert r.status_code == 422, r.json
    assert r.json["error"] == reason and r.json["message"]


def test_tampered_foreign_malformed_expired_and_future(app, client, db_session, seeded, dev):
    card, code, _ = card_with_code(db_session, seeded)
    _assert_refused(post(client, dev, {"code": code[:-5] + ("A" if code[-5] != "A" else "B") + code[-4:]}), "bad_signature")
    _assert_refused(post(client, dev, {"code": code.replace(code.split(".")[2], "q9q9", 1)}), "unknown_key")
    _assert_refused(post(client, dev, {"code": "http://weixin.qq.com/r/abc"}), "malformed")
    old = tokens.issue(db_session, card.id, time.time() - app.config["CODE_TTL_SECONDS"] - app.config["CODE_CLOCK_SKEW_SECONDS"] - 1).text
    future = tokens.issue(db_session, card.id, time.time() + app.config["CODE_CLOCK_SKEW_SECONDS"] + 30).text
    db_session.commit()
    _assert_refused(post(client, dev, {"code": old}), "expired")
    _assert_refused(post(client, dev, {"code": future}), "not_yet_valid")
    results = db_session.scalars(select(ScanEvent.result).order_by(ScanEvent.id)).all()
    assert results == ["bad_signature", "unknown_key", "malformed", "expired", "not_yet_valid"]


def test_replay_at_a_second_device_but_rescan_at_the_same(client, db_session, seeded, dev):
    card, _, _ = make_card(db_session, seeded)
    _, other = enrol_device(db_session, "二号扫码枪", "另一个接种点")
    code = tokens.issue(db_session, card.id).text
    db_session.commit()
    assert post(client, dev, {"code": code}).json["result"] == "authenticated"
    assert post(client, dev, {"code": code}).json["result"] == "authenticated"
    _assert_refused(post(client, other, {"code": code}), "replayed")
    fresh = tokens.issue(db_session, card.id).text
    db_session.commit()
    assert post(client, other, {"code": fresh}).json["result"] == "authenticated"


def test_cancelled_card_is_revoked_and_unknown_ref(client, db_session, seeded, dev):
    card, _, _ = make_card(db_session, seeded)
    code = tokens.issue(db_session, card.id).text
    cancel_card(db_session, card)
    db_session.commit()
    _assert_refused(post(client, dev, {"code": code}), "revoked")
    from erhc_h5.code.models import CardCodeRef

    db_session.get(CardCodeRef, card.id).ref = "AAAAAAAAAA"
    db_session.commit()
    key = tokens.keys.get_key(db_session, code.split(".")[2])
    body = code.rpartition(".")[0].split(".")
    body[3] = "BBBBBBBBBB"
    forged = tokens._signer(key.secret).sign(".".join(body)).decode()
    _assert_refused(post(client, dev, {"code": forged}), "unknown_card")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer "}])
def test_missing_or_bad_device_token_is_401(client, seeded, headers):
    r = client.post(URL, json={"code": "x"}, headers=headers)
    assert r.status_code == 401 and r.json["error"] == "unauthorized" and r.json["message"]


def test_revoked_device_is_401(client, db_session, seeded):
    device, token = enrol_device(db_session, "临时设备", "")
    db_session.commit()
    assert post(client, token, {"code": "x"}).status_code == 422
    revoke_device(db_session, device.id)
    db_session.commit()
    r = post(client, token, {"code": "x"})
    assert r.status_code == 401 and r.json["error"] == "device_revoked"


@pytest.mark.parametrize("raw, status", [
    (b"", 400), (b"not json", 400), (b"[]", 400), (b'{"code": 5}', 400), (b'{"code": null}', 400),
    (b"\xff\xfe", 400), (b'{"code": "' + b"a" * 5000 + b'"}', 413), (b"[" * 5000, 413), (b"[" * 3000, 400),
    (b'{"code": "\\ud800"}', 422),
])
def test_bad_bodies_are_4xx_json(client, seeded, dev, raw, status):
    r = post(client, dev, raw, raw=True)
    assert r.status_code == status and r.is_json and r.json["error"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies({"code": st.text(max_size=130)}))
def test_fuzz_never_500(client, seeded, dev, body):
    r = post(client, dev, body, raw=True)
    assert r.status_code < 500 and r.is_json


def test_devices_cli(app, db_session, seeded):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["devices", "add", "三号枪", "--site", "城东接种点"])
    assert out.exit_code == 0, out.output
    created = json.loads(out.output.strip().splitlines()[-1])
    assert created["token"].startswith("dev_")
    listed = runner.invoke(args=["devices", "list"])
    assert created["token"] not in listed.output and "城东接种点" in listed.output
    assert runner.invoke(args=["devices", "revoke", str(created["id"])]).exit_code == 0
    assert runner.invoke(args=["devices", "revoke", "999999"]).exit_code != 0
