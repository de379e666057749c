"""Rate limits: staff login throttled with a Chinese 429 and Retry-After, on memory and on Redis storage."""
from __future__ import annotations

import os
import secrets

import pytest

REDIS_URL = os.environ.get("ERHC_TEST_REDIS_URL", "")


def _hammer_login(app_with, storage_uri: str):
    app = app_with(context=False, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=storage_uri)
    client = app.test_client()
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    # One username each: the per-username backoff (tests/attacks/test_staff_login_backoff.py) stays out
    # of the way of the per-address limit under test.
    replies = [client.post("/staff/login", data={"username": f"nobody{i}", "password": "wrong-password"},
                           environ_base={"REMOTE_ADDR": address}) for i in range(11)]
    return app, address, replies


def _assert_limited(replies):
    assert [r.status_code for r in replies[:10]] == [200] * 10
    limited = replies[10]
    assert limited.status_code == 429
    assert "操作过于频繁" in limited.get_data(as_text=True)
    assert int(limited.headers["Retry-After"]) > 0


def test_staff_login_is_limited_in_memory(app_with):
    app, _, replies = _hammer_login(app_with, "memory://")
    _assert_limited(replies)
    # Another address is not affected.
    other = app.test_client().post("/staff/login", data={"username": "x", "password": "y"},
                                   environ_base={"REMOTE_ADDR": "192.0.2.200"})
    assert other.status_code == 200


def test_storage_uri_comes_from_the_environment(monkeypatch, tmp_path):
    from erhc_h5 import create_app

    monkeypatch.setenv("ERHC_RATELIMIT_STORAGE_URI", "redis://cache.invalid:6379/3")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "RATELIMIT_ENABLED": False})
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://cache.invalid:6379/3"
    monkeypatch.delenv("ERHC_RATELIMIT_STORAGE_URI")
    assert create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "RATELIMIT_ENABLED": False}).config[
        "RATELIMIT_STORAGE_URI"] == "memory://"


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="ERHC_TEST_REDIS_URL is not set (CI sets redis://127.0.0.1:6379/15)")
def test_staff_login_is_limited_through_redis(app_with):
    import redis

    _, address, replies = _hammer_login(app_with, REDIS_URL)
    _assert_limited(replies)
    client = redis.Redis.from_url(REDIS_URL)
    keys = [k.decode() for k in client.scan_iter(match=f"*{address}*")]
    assert keys, "the counters live in Redis, not in process memory"
    client.delete(*keys)
