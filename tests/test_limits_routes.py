"""Per-route rate limits: launch, identity POST, SMS sending and the scan API answer 429 (Chinese, Retry-After)
once over their limit, on memory:// and, when ERHC_TEST_REDIS_URL is set, on Redis."""
from __future__ import annotations

import os
import secrets

import pytest

from erhc_h5.scan.devices import enrol_device

REDIS_URL = os.environ.get("ERHC_TEST_REDIS_URL", "")
BUSY = "操作过于频繁"

# route → (method, path, allowed per minute per key)
ROUTES = {
    "launch": ("GET", "/h5/launch?app=unknown&uid=u1&ts=1&nonce=n&sig=x", 60),
    "identity": ("POST", "/h5/identity", 30),
    "sms_send": ("POST", "/h5/verify/sms/send", 20),
}
SCAN_ALLOWED = 600


def _address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def _limited_app(app_with, storage: str):
    return app_with(context=False, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=storage)


def _hit(client, method: str, path: str, address: str, **kwargs):
    return client.open(path, method=method, environ_base={"REMOTE_ADDR": address}, **kwargs)


def _check_page_route(app_with, storage: str, route: str) -> str:
    method, path, allowed = ROUTES[route]
    client = _limited_app(app_with, storage).test_client()
    address = _address()
    statuses = [_hit(client, method, path, address).status_code for _ in range(allowed)]
    assert 429 not in statuses and all(s < 500 for s in statuses), statuses
    limited = _hit(client, method, path, address)
    assert limited.status_code == 429
    assert BUSY in limited.get_data(as_text=True) and limited.mimetype == "text/html"
    assert int(limited.headers["Retry-After"]) > 0
    assert _hit(client, method, path, _address()).status_code != 429, "another address has its own counter"
    return address


def _check_scan_api(app_with, storage: str, token: str, other_token: str) -> str:
    client = _limited_app(app_with, storage).test_client()
    address = _address()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    statuses = {_hit(client, "POST", "/api/v1/scan", address, data=b"{}", headers=headers).status_code
                for _ in range(SCAN_ALLOWED)}
    assert statuses == {400}, statuses
    limited = _hit(client, "POST", "/api/v1/scan", address, data=b"{}", headers=headers)
    assert limited.status_code == 429 and limited.mimetype == "application/json"
    body = limited.get_json()
    assert body["error"] == "rate_limited" and BUSY in body["message"]
    assert int(limited.headers["Retry-After"]) > 0
    # The counter is per device, not per address: another device at the same site still scans.
    other = _hit(client, "POST", "/api/v1/scan", address, data=b"{}",
                 headers={**headers, "Authorization": f"Bearer {other_token}"})
    assert other.status_code == 400
    return token


@pytest.fixture
def tokens(seeded, db_session):
    _, other = enrol_device(db_session, "限流测试设备", "测试接种点")
    db_session.commit()
    return seeded["device_token"], other


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_route_is_limited_in_memory(app_with, seeded, route):
    _check_page_route(app_with, "memory://", route)


def test_scan_api_is_limited_per_device_in_memory(app_with, tokens):
    _check_scan_api(app_with, "memory://", *tokens)


def test_limits_are_off_when_disabled(app_with, seeded):
    client = app_with(context=False, RATELIMIT_ENABLED=False).test_client()
    method, path, allowed = ROUTES["sms_send"]
    assert 429 not in {_hit(client, method, path, "10.9.9.9").status_code for _ in range(allowed + 5)}


def _redis():
    import redis

    return redis.Redis.from_url(REDIS_URL)


def _drop_keys(pattern: str) -> list[str]:
    client = _redis()
    keys = list(client.scan_iter(match=pattern))
    if keys:
        client.delete(*keys)
    return keys


needs_redis = [pytest.mark.redis, pytest.mark.skipif(
    not REDIS_URL, reason="ERHC_TEST_REDIS_URL is not set (CI sets redis://127.0.0.1:6379/15)")]


@pytest.mark.parametrize("route", sorted(ROUTES))
@needs_redis[0]
@needs_redis[1]
def test_route_is_limited_through_redis(app_with, seeded, route):
    address = _check_page_route(app_with, REDIS_URL, route)
    assert _drop_keys(f"*{address}*"), "the counters live in Redis, not in process memory"


@needs_redis[0]
@needs_redis[1]
def test_scan_api_is_limited_through_redis(app_with, tokens):
    _check_scan_api(app_with, REDIS_URL, *tokens)
    keys = _drop_keys("*scan-device:*")
    assert keys, "the scan counters live in Redis"
    assert not any(t.encode() in k for k in keys for t in tokens), "no device token in clear in Redis keys"


def test_province_verification_is_limited_per_caller_and_address(app_with, seeded):
    """Counted per app id and address, signed or not: a flood of bad signatures is limited too."""
    client = _limited_app(app_with, "memory://").test_client()
    client.application.config["PROVINCE_VERIFY_RATE_LIMIT"] = "5 per minute"
    address, headers = _address(), {"X-Erhc-App-Id": "province", "Content-Type": "application/json"}
    statuses = [_hit(client, "POST", "/api/v1/province/verify", address, data=b"{}", headers=headers).status_code
                for _ in range(5)]
    assert statuses == [401] * 5
    limited = _hit(client, "POST", "/api/v1/province/verify", address, data=b"{}", headers=headers)
    assert limited.status_code == 429 and limited.get_json()["error"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    assert _hit(client, "POST", "/api/v1/province/verify", _address(), data=b"{}", headers=headers).status_code == 401
    assert _hit(client, "POST", "/api/v1/province/verify", address, data=b"{}",
                headers={**headers, "X-Erhc-App-Id": "other"}).status_code == 401
