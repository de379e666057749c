"""ProvinceClient against a faked province (responses): signing and the meaning of each reply."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

import pytest
import requests
import responses

from erhc_h5.sync.client import ProvinceClient, parse_retry_after

URL = "http://province.test/base/erhc/v1/auth-records"
IDS = ["a" * 32, "b" * 32]


@pytest.fixture
def client():
    return ProvinceClient("http://province.test/base/", "city-3301", "s3cret", connect_timeout=1, read_timeout=2,
                          max_reply_bytes=64 * 1024)


@responses.activate
def test_signed_headers_fresh_nonce(client):
    responses.add(responses.POST, URL, json={"cd_batch": "B", "accepted": IDS, "rejected": []})
    body = b'{"x":1}'
    client.send(body, "B", IDS)
    client.send(body, "B", IDS)
    seen = [call.request.headers for call in responses.calls]
    assert seen[0]["X-Erhc-Nonce"] != seen[1]["X-Erhc-Nonce"]
    for headers in seen:
        assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Erhc-Nonce"])
        assert abs(int(headers["X-Erhc-Timestamp"]) - time.time()) < 5
        message = "\n".join(["POST", "/base/erhc/v1/auth-records", headers["X-Erhc-Timestamp"],
                             headers["X-Erhc-Nonce"], hashlib.sha256(body).hexdigest()])
        assert headers["X-Erhc-Signature"] == hmac.new(b"s3cret", message.encode(), hashlib.sha256).hexdigest()
        assert headers["X-Erhc-App-Id"] == "city-3301"
    assert responses.calls[0].request.body == body


@pytest.mark.parametrize("reply, outcome", [
    ({"json": {"cd_batch": "B", "accepted": [IDS[0]], "rejected": [{"id": IDS[1], "errors": [
        {"field": "phone", "reason": "bad_format", "message": "x"}]}]}}, "ok"),
    ({"json": {"cd_batch": "OTHER", "accepted": IDS, "rejected": []}}, "inconsistent_reply"),
    ({"json": {"cd_batch": "B", "accepted": [IDS[0]], "rejected": []}}, "inconsistent_reply"),
    ({"json": {"cd_batch": "B", "accepted": IDS + [IDS[0]], "rejected": []}}, "inconsistent_reply"),
    ({"body": "<html>oops"}, "bad_json"),
    ({"body": "[" * 60_000}, "nested_json"),
    ({"body": "{\"a\": " * 65 + "1" + "}" * 65}, "nested_json"),
    ({"body": json.dumps(["[" * 70 + '\\"' + "{" * 70])}, "inconsistent_reply"),  # brackets in a string
    ({"body": "x" * (64 * 1024 + 1)}, "reply_too_large"),
    ({"json": {"error": "bad_signature"}, "status": 401}, "refused"),
    ({"json": {"error": "x"}, "status": 400}, "refused"),
    ({"body": "", "status": 413}, "refused"),
    ({"body": "", "status": 500}, "http_5xx"),
    ({"body": "", "status": 503}, "http_5xx"),
    ({"body": "", "status": 404}, "unexpected_status"),
    ({"body": requests.exceptions.ConnectTimeout()}, "connect_timeout"),
    ({"body": requests.exceptions.ReadTimeout()}, "read_timeout"),
    ({"body": requests.exceptions.ConnectionError("reset")}, "connect_error"),
    ({"body": requests.exceptions.ChunkedEncodingError()}, "transport_error"),
])
@responses.activate
def test_reply_meanings(client, reply, outcome):
    responses.add(responses.POST, URL, **reply)
    result = client.send(b"{}", "B", IDS)
    assert result.outcome == outcome
    assert result.transient == (outcome not in ("ok", "refused"))
    if outcome == "ok":
        assert result.accepted == [IDS[0]]
        assert result.rejected == [{"id": IDS[1], "errors": [{"field": "phone", "reason": "bad_format"}]}]


@responses.activate
def test_429_retry_after(client):
    responses.add(responses.POST, URL, status=429, headers={"Retry-After": "17"}, body="")
    result = client.send(b"{}", "B", IDS)
    assert result.outcome == "rate_limited" and result.retry_after == 17.0


def test_parse_retry_after_forms():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    assert 50 <= parse_retry_after(when) <= 61


@responses.activate
def test_timeouts_are_passed_and_the_reply_streamed(client):
    responses.add(responses.POST, URL, json={"cd_batch": "B", "accepted": IDS, "rejected": []})
    assert client.send(b"{}", "B", IDS).outcome == "ok"
    call = responses.calls[0]
    assert call.request.req_kwargs["timeout"] == (1.0, 2.0) and call.request.req_kwargs["stream"] is True
    assert call.request.headers["Accept-Encoding"] == "identity"


def test_backoff_grows_with_jitter_and_cap():
    import random

    from erhc_h5.sync.worker import backoff_seconds

    rng = random.Random(1)
    delays = [backoff_seconds(n, 5, 600, rng) for n in range(1, 12)]
    assert 2.5 <= delays[0] <= 5 and 5 <= delays[1] <= 10 and all(d <= 600 for d in delays)
    assert delays[-1] >= 300 and backoff_seconds(3, 0, 600) == 0
    assert json.dumps(delays)  # plain floats
