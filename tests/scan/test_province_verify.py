"""The province's verification (验码) API: verdicts, the record, signed-request refusals, the scan's
reason codes and replay rule per terminal, and no 500 for any body.

Requests are signed by the sandbox province's client (its own implementation of the scheme); one
test signs by hand from the SPEC's text.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from erhc_h5.code import tokens
from erhc_h5.cards.service import cancel_card, issue_or_update_card
from erhc_h5.scan.models import ProvinceVerifyNonce, ScanEvent
from erhc_h5.sandbox.province_rules import validate
from erhc_h5.sync.province_verify import VERIFY_PATH, ProvinceVerifyClient, SignedRequest
from tests.code.helpers import post_scan
from tests.factories import card_with_code, make_card
from tests.scan.bodies import bodies

NOT_AUTHENTICATED = {"result": "not_authenticated", "message": "该用户未进行实名认证"}
SPEC_RECORD_FIELDS = {"id", "erhc_card_no", "empi", "name", "sex", "nation", "nationality", "birthday",
                      "id_card_type_code", "idcode", "authentication_method", "recognize_flag", "app_record_no",
                      "app_record_no_recognize", "cd_time"}


@pytest.fixture
def province(app):
    return ProvinceVerifyClient("http://localhost", app.config["PROVINCE_VERIFY_ID"], app.config["PROVINCE_VERIFY_SECRET"])


def send(client, signed: SignedRequest):
    return client.post(signed.path, data=signed.body, headers=signed.headers)


def ask(client, province, code, terminal="SC-330106-01", **kwargs):
    return send(client, province.prepare(code, terminal, **kwargs))


def test_authenticated_resident_gets_the_record_as_uploaded(client, db_session, seeded, province):
    card, code, identity = card_with_code(db_session, seeded, methods="2")
    r = ask(client, province, code)
    assert r.status_code == 200, r.json
    assert set(r.json) == {"result", "record"} and r.json["result"] == "authenticated"
    record = r.json["record"]
    assert SPEC_RECORD_FIELDS <= set(record)
    assert (record["name"], record["idcode"], record["sex"], record["birthday"]) == (
        identity["name"], identity["idcode"], "1", "1990-03-07")
    assert record["recognize_flag"] == 1 and record["authentication_method"] == "2" and record["nationality"] == "CHN"
    assert record["app_record_no"] == seeded["app_record_no"]
    assert record["app_record_no_recognize"] == seeded["app_record_no_recognize"]
    assert record["cd_batch"] is None  # queued, not yet batched
    assert validate({**record, "cd_batch": "3301202612030000001"}) == []  # the province's own reading of 5.2.2
    event = db_session.scalar(select(ScanEvent).order_by(ScanEvent.id.desc()))
    assert (event.result, event.card_id, event.terminal, event.device_id, event.staff_user_id) == (
        "authenticated", card.id, "SC-330106-01", None, None)


def test_record_is_the_newest_version_queued(client, db_session, seeded, province):
    card, _, identity = make_card(db_session, seeded, methods="2")
    issue_or_update_card(db_session, identity, card.app, methods="3")  # a stronger method: version 2
    code = tokens.issue(db_session, card.id).text
    db_session.commit()
    r = ask(client, province, code)
    assert r.json["record"]["authentication_method"] == "2^3" and r.json["record"]["cd_operation"] == "u"


def test_onsite_registration_pending_is_case_one_until_confirmed(client, db_session, seeded, province):
    card, _, identity = make_card(db_session, seeded, methods=None)  # chose on-site, not yet checked
    code = tokens.issue(db_session, card.id).text
    db_session.commit()
    r = ask(client, province, code)
    assert r.status_code == 200 and r.json == NOT_AUTHENTICATED
    confirmed = issue_or_update_card(db_session, identity, card.app, methods="4")  # staff inspected the document
    code = tokens.issue(db_session, confirmed.id).text  # the resident refreshes the code face
    db_session.commit()
    r = ask(client, province, code)
    assert r.status_code == 200 and r.json["result"] == "authenticated", r.json
    assert r.json["record"]["authentication_method"] == "4"


def test_cancelled_card_and_bad_codes_get_the_scan_reason_codes(app, client, db_session, seeded, province):
    card, _, _ = make_card(db_session, seeded)
    code = tokens.issue(db_session, card.id).text
    old = tokens.issue(db_session, card.id, time.time() - app.config["CODE_TTL_SECONDS"]
                       - app.config["CODE_CLOCK_SKEW_SECONDS"] - 1).text
    db_session.commit()
    tampered = code[:-5] + ("A" if code[-5] != "A" else "B") + code[-4:]
    for text, reason in ((tampered, "bad_signature"), ("http://weixin.qq.com/r/abc", "malformed"), (old, "expired"),
                         (code.replace(code.split(".")[2], "q9q9", 1), "unknown_key")):
        r = ask(client, province, text)
        assert r.status_code == 422 and r.json["error"] == reason and r.json["message"], (reason, r.json)
    cancel_card(db_session, card)
    db_session.commit()
    r = ask(client, province, code)
    assert r.status_code == 422 and r.json["error"] == "revoked"


def test_replay_rule_applies_per_terminal(client, db_session, seeded, province):
    card, code, _ = card_with_code(db_session, seeded)
    assert ask(client, province, code, "T-1").json["result"] == "authenticated"
    assert ask(client, province, code, "T-1").json["result"] == "authenticated"  # the same terminal looks again
    r = ask(client, province, code, "T-2")
    assert r.status_code == 422 and r.json["error"] == "replayed"
    r = post_scan(client, seeded["device_token"], code)  # a city scanner is another scanner too
    assert r.status_code == 422 and r.json["error"] == "replayed"
    fresh = tokens.issue(db_session, card.id).text
    db_session.commit()
    assert post_scan(client, seeded["device_token"], fresh).json["result"] == "authenticated"
    assert ask(client, province, fresh, "T-1").json["error"] == "replayed"


def test_hand_signed_request_from_the_spec_text(app, client, db_session, seeded):
    """Signature computed here from SPEC's words, not by either implementation."""
    card, code, _ = card_with_code(db_session, seeded, methods=None)
    body = json.dumps({"code": code, "terminal": "hand"}).encode()
    stamp, nonce = str(int(time.time())), "0123456789abcdef0123456789abcdef"
    text = "POST\n" + VERIFY_PATH + "\n" + stamp + "\n" + nonce + "\n" + hashlib.sha256(body).hexdigest()
    sig = hmac.new(app.config["PROVINCE_VERIFY_SECRET"].encode(), text.encode(), hashlib.sha256).hexdigest()
    headers = {"X-Erhc-App-Id": app.config["PROVINCE_VERIFY_ID"], "X-Erhc-Timestamp": stamp, "X-Erhc-Nonce": nonce,
               "X-Erhc-Signature": sig, "Content-Type": "application/json"}
    r = client.post(VERIFY_PATH, data=body, headers=headers)
    assert r.status_code == 200 and r.json == NOT_AUTHENTICATED


def _refused(r, reason):
    assert r.status_code == 401, r.json
    assert r.json["error"] == reason and r.json["message"]


def test_signature_refusals(app, client, db_session, seeded, province):
    card, code, _ = card_with_code(db_session, seeded)
    good = province.prepare(code, "T-9")
    _refused(send(client, SignedRequest(good.path, {**good.headers, "X-Erhc-Signature": "0" * 64}, good.body)),
             "bad_signature")
    missing = {k: v for k, v in good.headers.items() if k != "X-Erhc-Signature"}
    _refused(send(client, SignedRequest(good.path, missing, good.body)), "bad_signature")
    # the body changed after signing, the path signed is another one, the secret is another one
    _refused(send(client, SignedRequest(good.path, good.headers, good.body.replace(b"T-9", b"T-8"))), "bad_signature")
    other_path = province.prepare(code, "T-9")
    other_path = SignedRequest(good.path, ProvinceVerifyClient("http://x/sub", province.app_id, province.secret)
                               .prepare(code, "T-9", nonce=other_path.headers["X-Erhc-Nonce"]).headers, other_path.body)
    _refused(send(client, other_path), "bad_signature")
    _refused(send(client, ProvinceVerifyClient("http://localhost", province.app_id, "wrong-secret").prepare(code, "T")),
             "bad_signature")
    _refused(send(client, ProvinceVerifyClient("http://localhost", "someone-else", province.secret).prepare(code, "T")),
             "unknown_app_id")
    _refused(ask(client, province, code, now=time.time() - 301), "stale_timestamp")
    _refused(ask(client, province, code, now=time.time() + 301), "stale_timestamp")
    assert ask(client, province, code, "T-9", now=time.time() - 290).status_code == 200
    for stamp, reason in (("", "bad_timestamp"), ("12a", "bad_timestamp"), ("1" * 40, "bad_timestamp")):
        _refused(send(client, SignedRequest(good.path, {**good.headers, "X-Erhc-Timestamp": stamp}, good.body)), reason)
    for nonce in ("A" * 32, "0" * 31, "g" * 32, "0" * 33):
        _refused(ask(client, province, code, nonce=nonce), "bad_nonce")
    no_nonce = {k: v for k, v in good.headers.items() if k != "X-Erhc-Nonce"}
    _refused(send(client, SignedRequest(good.path, no_nonce, good.body)), "bad_nonce")
    assert db_session.scalar(select(ScanEvent.id).where(ScanEvent.terminal == "T")) is None  # refused: no scan


def test_replayed_nonce_is_refused_and_writes_no_scan(client, db_session, seeded, province):
    card, code, _ = card_with_code(db_session, seeded)
    signed = province.prepare(code, "T-1")
    assert send(client, signed).status_code == 200
    scans = db_session.scalar(select(ScanEvent.id).order_by(ScanEvent.id.desc()))
    _refused(send(client, signed), "replayed_nonce")
    _refused(send(client, province.prepare(code, "T-2", nonce=signed.headers["X-Erhc-Nonce"])), "replayed_nonce")
    assert db_session.scalar(select(ScanEvent.id).order_by(ScanEvent.id.desc())) == scans
    assert db_session.get(ProvinceVerifyNonce, signed.headers["X-Erhc-Nonce"]) is not None


@pytest.mark.parametrize("raw, status, reason", [
    (b"", 400, "bad_request"), (b"not json", 400, "bad_request"), (b"[]", 400, "bad_request"),
    (b'{"code": 5, "terminal": "T"}', 400, "bad_request"), (b'{"code": "x"}', 400, "bad_terminal"),
    (b'{"code": "x", "terminal": ""}', 400, "bad_terminal"), (b'{"code": "x", "terminal": "' + b"a" * 65 + b'"}', 400,
                                                              "bad_terminal"),
    (b'{"code": "x", "terminal": "\\u7ec8\\u7aef"}', 400, "bad_terminal"), (b'{"code": "x", "terminal": 7}', 400,
                                                                           "bad_terminal"),
    (b"\xff\xfe", 400, "bad_request"), (b'{"code": "' + b"a" * 5000 + b'"}', 413, "too_large"),
    (b"[" * 3000, 400, "bad_request"), (b'{"code": "\\ud800", "terminal": "T"}', 422, "malformed"),
    (b'{"code": "x", "terminal": "T"}', 422, "malformed"),
])
def test_bad_bodies_are_4xx_with_reasons(app, client, seeded, province, raw, status, reason):
    from erhc_h5.sync.province_signing import signed_headers

    headers = signed_headers(province.app_id, province.secret, VERIFY_PATH, raw)
    r = client.post(VERIFY_PATH, data=raw, headers=headers)
    assert r.status_code == status and r.is_json and r.json["error"] == reason and r.json["message"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies({"code": st.text(max_size=130), "terminal": st.text(max_size=70)}))
def test_fuzz_signed_bodies_never_500(client, seeded, province, body):
    from erhc_h5.sync.province_signing import signed_headers

    r = client.post(VERIFY_PATH, data=body, headers=signed_headers(province.app_id, province.secret, VERIFY_PATH, body))
    assert 400 <= r.status_code < 500 and r.is_json and r.json["error"] and r.json["message"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=st.dictionaries(st.sampled_from(["X-Erhc-App-Id", "X-Erhc-Timestamp", "X-Erhc-Nonce", "X-Erhc-Signature"]),
                               st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)))
def test_fuzz_headers_are_401(client, seeded, headers):
    r = client.post(VERIFY_PATH, data=b'{"code": "x", "terminal": "T"}', headers=headers)
    assert r.status_code == 401 and r.json["error"] in (
        "unknown_app_id", "bad_timestamp", "stale_timestamp", "bad_nonce", "bad_signature")


def test_not_csrf_protected_and_json_404_elsewhere(app, client, seeded, province):
    app.config["WTF_CSRF_ENABLED"] = True
    assert ask(client, province, "x").status_code == 422
    assert client.get(VERIFY_PATH).status_code == 405
