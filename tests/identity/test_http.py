"""HTTP providers: signing, timeouts, and the mapping of every transport and reply failure."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time

import pytest
import requests
import responses

from erhc_h5.identity.base import ProviderUnavailable
from erhc_h5.identity.http import (
    HttpFaceProvider,
    HttpIdentityProvider,
    HttpSmsProvider,
    ProviderHttpClient,
    parse_timeout,
    sign,
)
from tests.identity.conftest import png
from tests.identity.fake_upstream import APP_KEY, BASE, CONFIG, SECRET, FakeVendor

ID = "11010519491231002X"  # GB 11643-1999 specimen
NAME, PHONE, OTP = "欧阳娜娜", "13912345678", "864209"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client():
    return ProviderHttpClient.from_config(CONFIG)


@pytest.fixture
def identity(client):
    return HttpIdentityProvider(client, CONFIG)


@pytest.fixture
def sms(client):
    return HttpSmsProvider(client, CONFIG)


@pytest.fixture
def face(client):
    return HttpFaceProvider(client, {**CONFIG, "PROVIDER_FACE_MIN_SCORE": 80})


def reason_of(call) -> str:
    with pytest.raises(ProviderUnavailable) as info:
        call()
    return info.value.reason


@pytest.mark.parametrize("exc,reason", [
    (requests.ConnectTimeout("connect"), "timeout"),
    (requests.ReadTimeout("read"), "timeout"),
    (requests.ConnectionError("reset"), "unreachable"),
    (requests.exceptions.SSLError("tls"), "unreachable"),
])
def test_transport_failures(rsps, identity, exc, reason):
    rsps.add("POST", BASE + "/idcard/verify", body=exc)
    assert reason_of(lambda: identity.check_two_factor(NAME, "01", ID)) == reason


@pytest.mark.parametrize("status,reason", [
    (500, "upstream_error"), (503, "upstream_error"), (404, "upstream_error"), (302, "upstream_error"),
    (401, "provider_refused"), (403, "provider_refused"), (429, "provider_refused"),
])
def test_http_status_mapping(rsps, identity, status, reason):
    rsps.add("POST", BASE + "/mobile/verify3", status=status, json={"code": "0", "result": "1"})
    assert reason_of(lambda: identity.check_three_factor(NAME, "01", ID, PHONE)) == reason


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"\xff\xfe garbage", b'["code", "0"]', b'{"code": "0"',
                                  b'{"message": "no code"}', b'{"code": "0"}', b'{"code": "0", "result": "9"}',
                                  b'{"code": "0", "result": null}', b'{"code": "0", "result": {"v": 1}}'],
                         ids=["html", "binary", "list", "truncated", "no-code", "no-result", "unknown-result",
                              "null-result", "object-result"])
def test_garbled_or_incomplete_replies(rsps, identity, body):
    rsps.add("POST", BASE + "/idcard/verify", body=body)
    assert reason_of(lambda: identity.check_two_factor(NAME, "01", ID)) == "bad_reply"


@pytest.mark.parametrize("result,expected", [("1", (True, "")), (2, (False, "mismatch")), ("3", (False, "no_record"))])
def test_check_results(rsps, identity, result, expected):
    rsps.add("POST", BASE + "/idcard/verify", json={"code": "0", "result": result, "order_no": "T1"})
    verdict = identity.check_two_factor(NAME, "01", ID)
    assert (verdict.passed, verdict.reason, verdict.provider_ref) == (*expected, "T1")


@pytest.mark.parametrize("code", ["1001", "1002", "1003", 1004])
def test_business_refusal_for_quota_and_auth(rsps, identity, sms, face, code):
    for path in ("/idcard/verify", "/mobile/verify3", "/sms/send", "/face/token", "/face/verify"):
        rsps.add("POST", BASE + path, json={"code": code, "message": "余额不足"})
    rsps.add("GET", BASE + "/face/result", json={"code": code})
    calls = [lambda: identity.check_two_factor(NAME, "01", ID), lambda: identity.check_three_factor(NAME, "01", ID, PHONE),
             lambda: sms.send_code(PHONE, OTP), lambda: face.start(NAME, "01", ID, "https://h5.test/r"),
             lambda: face.verify_image("tok", png()), lambda: face.fetch_result("tok")]
    assert [reason_of(call) for call in calls] == ["provider_refused"] * 6


def test_other_business_codes(rsps, identity, sms):
    rsps.add("POST", BASE + "/idcard/verify", json={"code": "2001", "message": "参数错误"})
    rsps.add("POST", BASE + "/sms/send", json={"code": "2005", "message": "号码在黑名单"})
    assert reason_of(lambda: identity.check_two_factor(NAME, "01", ID)) == "upstream_error"
    assert reason_of(lambda: sms.send_code(PHONE, OTP)) == "sms_rejected"


def test_sms_request_and_missing_message_id(rsps, sms):
    rsps.add("POST", BASE + "/sms/send", json={"code": "0", "message_id": "M-1"})
    rsps.add("POST", BASE + "/sms/send", json={"code": "0"})
    assert sms.send_code(PHONE, OTP).message_id == "M-1"
    sent = json.loads(rsps.calls[0].request.body)
    assert sent == {"mobile": PHONE, "template_id": "ERHC_OTP", "params": {"code": OTP}}
    assert reason_of(lambda: sms.send_code(PHONE, OTP)) == "bad_reply"


@pytest.mark.parametrize("reply", [{"code": "0", "token": "t"}, {"code": "0", "redirect_url": "https://v/h5"},
                                   {"code": "0", "token": "t", "redirect_url": "javascript:alert(1)"}])
def test_face_token_reply_must_be_complete(rsps, face, reply):
    rsps.add("POST", BASE + "/face/token", json=reply)
    assert reason_of(lambda: face.start(NAME, "01", ID, "https://h5.test/r")) == "bad_reply"


def test_face_token_sends_return_url_and_result_is_fetched_server_side(rsps, face):
    rsps.add("POST", BASE + "/face/token", json={"code": "0", "token": "tok-1", "redirect_url": "https://v.test/h5?t=1"})
    rsps.add("GET", BASE + "/face/result", json={"code": "0", "status": "done", "passed": "1", "liveness": "1",
                                                 "score": "91", "order_no": "F1"})
    started = face.start(NAME, "01", ID, "https://h5.test/h5/face/return")
    assert (started.token, started.redirect_url) == ("tok-1", "https://v.test/h5?t=1")
    assert json.loads(rsps.calls[0].request.body)["return_url"] == "https://h5.test/h5/face/return"
    verdict = face.fetch_result("tok-1")
    assert (verdict.passed, verdict.provider_ref) == (True, "F1")
    assert rsps.calls[1].request.method == "GET" and rsps.calls[1].request.params == {"token": "tok-1"}


@pytest.mark.parametrize("reply,expected", [
    ({"status": "done", "passed": "1", "liveness": "1", "score": "79.9"}, (False, "face_mismatch")),
    ({"status": "done", "passed": "0", "liveness": "1", "score": "99"}, (False, "face_mismatch")),
    ({"status": "done", "passed": "1", "liveness": "0", "score": "99"}, (False, "liveness_failed")),
    ({"status": "done", "passed": "1", "liveness": "1", "score": "80"}, (True, "")),
])
def test_face_verdicts(rsps, face, reply, expected):
    rsps.add("GET", BASE + "/face/result", json={"code": "0", **reply})
    verdict = face.fetch_result("tok")
    assert (verdict.passed, verdict.reason) == expected


@pytest.mark.parametrize("reply,reason", [
    ({"code": "0", "status": "pending"}, "pending"), ({"code": "0", "status": "expired"}, "face_expired"),
    ({"code": "3002"}, "face_expired"), ({"code": "0", "status": "weird"}, "bad_reply"),
    ({"code": "0", "status": "done", "passed": "1", "liveness": "1", "score": "high"}, "bad_reply"),
    ({"code": "0", "status": "done", "passed": "1", "liveness": "1"}, "bad_reply"),
    ({"code": "9999"}, "upstream_error"),
])
def test_face_result_unavailable(rsps, face, reply, reason):
    rsps.add("GET", BASE + "/face/result", json=reply)
    assert reason_of(lambda: face.fetch_result("tok")) == reason


def test_face_verify_uploads_base64_and_maps_bad_image(rsps, face):
    rsps.add("POST", BASE + "/face/verify", json={"code": "3001", "message": "图片无法识别"})
    verdict = face.verify_image("tok", b"\x00\x01")
    assert (verdict.passed, verdict.reason) == (False, "bad_image")
    assert json.loads(rsps.calls[0].request.body) == {"token": "tok", "image": "AAE="}


def test_signature_headers_are_valid_and_fresh(rsps, identity):
    rsps.add("POST", BASE + "/idcard/verify", json={"code": "0", "result": "1"})
    identity.check_two_factor(NAME, "01", ID)
    identity.check_two_factor(NAME, "01", ID)
    first, second = (call.request for call in rsps.calls)
    for request in (first, second):
        h = request.headers
        assert h["X-App-Key"] == APP_KEY
        assert re.fullmatch(r"[0-9a-f]{32}", h["X-Nonce"])
        assert abs(int(h["X-Timestamp"]) - time.time()) < 5
        assert h["X-Signature"] == sign(SECRET, "POST", "/idcard/verify", h["X-Timestamp"], h["X-Nonce"], request.body)
        assert json.loads(request.body.decode("utf-8"))["name"] == NAME
    assert first.headers["X-Nonce"] != second.headers["X-Nonce"]


def test_signature_follows_the_documented_formula(rsps, face):
    rsps.add("GET", BASE + "/face/result", json={"code": "0", "status": "pending"})
    reason_of(lambda: face.fetch_result("tok 1"))
    h = rsps.calls[0].request.headers
    message = f"GET\n/face/result?token=tok+1\n{h['X-Timestamp']}\n{h['X-Nonce']}\n{hashlib.sha256(b'').hexdigest()}"
    assert h["X-Signature"] == hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_vendor_refuses_a_wrong_secret(rsps):
    FakeVendor(rsps)
    wrong = ProviderHttpClient(BASE, APP_KEY, "not-the-secret", 3)
    assert reason_of(lambda: HttpIdentityProvider(wrong, CONFIG).check_two_factor(NAME, "01", ID)) == "provider_refused"


def test_timeouts_passed_on_every_call(rsps, identity, face):
    rsps.add("POST", BASE + "/idcard/verify", json={"code": "0", "result": "1"})
    rsps.add("GET", BASE + "/face/result", json={"code": "0", "status": "pending"})
    identity.check_two_factor(NAME, "01", ID)
    reason_of(lambda: face.fetch_result("tok"))
    assert [call.request.req_kwargs["timeout"] for call in rsps.calls] == [(2.0, 7.0), (2.0, 7.0)]


@pytest.mark.parametrize("value,expected", [(5, (5.0, 5.0)), ("4.5", (4.5, 4.5)), ("3,10", (3.0, 10.0)),
                                            ([1, 2], (1.0, 2.0))])
def test_parse_timeout(value, expected):
    assert parse_timeout(value) == expected


def test_no_personal_data_in_logs_or_errors(rsps, identity, sms, face, caplog):
    caplog.set_level(logging.DEBUG)
    rsps.add("POST", BASE + "/idcard/verify", json={"code": "0", "result": "2"})
    rsps.add("POST", BASE + "/mobile/verify3", body=requests.ReadTimeout(f"{NAME} {ID}"))
    rsps.add("POST", BASE + "/sms/send", status=500, body=f"gateway down for {PHONE} {OTP}")
    rsps.add("POST", BASE + "/face/token", body=f"garbled {NAME} {ID}")
    identity.check_two_factor(NAME, "01", ID)
    errors = [str(info) for info in (
        pytest.raises(ProviderUnavailable, identity.check_three_factor, NAME, "01", ID, PHONE).value,
        pytest.raises(ProviderUnavailable, sms.send_code, PHONE, OTP).value,
        pytest.raises(ProviderUnavailable, face.start, NAME, "01", ID, "https://h5.test/r").value)]
    events = [getattr(r, "event", {}) for r in caplog.records if getattr(r, "event", {}).get("event") == "provider_call"]
    assert [e["outcome"] for e in events] == ["ok", "timeout", "upstream_error", "bad_reply"]
    text = caplog.text + json.dumps(events, ensure_ascii=False) + " ".join(errors)
    for secret in (NAME, ID, PHONE, OTP, SECRET):
        assert secret not in text


def _call_within(limit: float, call):
    """Run a provider call on its own thread; fail (rather than hang) after ``limit`` seconds."""
    import threading

    result: dict = {}

    def target():
        try:
            result["value"] = call()
        except BaseException as exc:  # reported in the test's thread
            result["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"the provider call was still running after {limit} s"
    return result, time.monotonic() - started


@pytest.mark.parametrize("mode,interval,detail", [("trickle", 0.3, "deadline"), ("endless", 0.01, "deadline"),
                                                  ("silent", 0, "read_timeout")])
def test_trickling_or_silent_vendor_ends_within_the_deadline(mode, interval, detail):
    from tests.sync.faulty_province import FaultyProvince

    vendor = FaultyProvince(mode, interval).start()
    try:
        client = ProviderHttpClient(vendor.url, APP_KEY, SECRET, "1,1", deadline=2)
        result, elapsed = _call_within(15, lambda: HttpIdentityProvider(client, CONFIG).check_two_factor(NAME, "01", ID))
    finally:
        vendor.stop()
    error = result.get("error")
    assert isinstance(error, ProviderUnavailable) and (error.reason, error.detail) == ("timeout", detail)
    assert elapsed < (1.8 if detail == "read_timeout" else 3.0)


@pytest.mark.parametrize("body,detail", [(b"[" * 100_000, "nested_json"), (b'{"code": "0", "x": ' + b"[" * 65 + b"]" * 65
                                                                            + b"}", "nested_json"),
                                         (b" " * (64 * 1024 + 1), "reply_too_large")])
def test_oversize_or_deeply_nested_replies_are_bad_replies(rsps, body, detail):
    rsps.add("POST", BASE + "/idcard/verify", body=body)
    client = ProviderHttpClient(BASE, APP_KEY, SECRET, 3, max_reply_bytes=64 * 1024 * 1024 if detail != "reply_too_large"
                                else 64 * 1024)
    with pytest.raises(ProviderUnavailable) as info:
        HttpIdentityProvider(client, CONFIG).check_two_factor(NAME, "01", ID)
    assert (info.value.reason, info.value.detail) == ("bad_reply", detail)


def test_config_limits_reach_the_client():
    client = ProviderHttpClient.from_config({**CONFIG, "PROVIDER_DEADLINE_SECONDS": 4,
                                             "PROVIDER_MAX_REPLY_BYTES": 2048})
    assert (client.limits.deadline, client.limits.max_bytes) == (4.0, 2048)


def test_failed_calls_are_counted(app, rsps, identity):
    rsps.add("POST", BASE + "/idcard/verify", body=b"[" * 1000)
    reason_of(lambda: identity.check_two_factor(NAME, "01", ID))
    registry = app.extensions["erhc_metrics"].registry
    assert registry.get_sample_value("erhc_provider_call_failures_total",
                                     {"op": "two_factor", "reason": "bad_reply"}) == 1
