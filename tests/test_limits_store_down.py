"""The limiter store (Redis) refusing connections or hung: rate-limited routes keep answering quickly,
never 500; limits fall back to process memory (still enforced), the outage is logged and counted, and
/readyz says the store is down while the app stays in rotation (degraded)."""
from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import ExitStack

import pytest

from erhc_h5.db import get_db
from tests.support import make_app

ROUTES = [  # (method, path, kwargs) of every kind of rate-limited route
    ("GET", "/h5/launch?app=unknown&uid=u1&ts=1&nonce=n&sig=x", {}),
    ("GET", "/h5/code/token.json", {}),
    ("POST", "/h5/identity", {"data": {"name": "测试"}}),
    ("POST", "/h5/verify/two-factor", {"data": {}}),
    ("POST", "/h5/verify/sms/send", {"data": {}}),
    ("POST", "/scan", {"data": {"code": "x"}}),
    ("POST", "/staff/login", {"data": {"username": "nobody", "password": "x"}}),
]
QUICK = 1.5  # seconds: the store timeout is 0.3 s; Redis's own default would be 5 s


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hung_redis():
    """A socket that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture(params=["refused", "hung"])
def store_uri(request):
    if request.param == "refused":
        return f"redis://127.0.0.1:{_closed_port()}/0"
    return request.getfixturevalue("hung_redis")


@pytest.fixture
def limited_app(app, seeded, store_uri):
    """An app limited through the dead store, sharing the rolled-back connection of ``app``."""
    connection = get_db(app).factory.kw["bind"]
    with ExitStack() as stack:
        other = make_app(app.config["DATABASE_URL"], RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=store_uri)
        get_db(other).bind_to(connection)
        stack.callback(get_db(other).engine.dispose)
        yield other


def _timed(client, method, path, address="10.1.2.3", **kwargs):
    started = time.perf_counter()
    response = client.open(path, method=method, environ_base={"REMOTE_ADDR": address}, **kwargs)
    return response, time.perf_counter() - started


def test_limited_routes_answer_quickly_without_500(limited_app, seeded):
    client = limited_app.test_client()
    scan_headers = {"Authorization": f"Bearer {seeded['device_token']}"}
    for method, path, kwargs in ROUTES * 2:
        response, took = _timed(client, method, path, **kwargs)
        assert response.status_code < 500, (path, response.status_code)
        assert took < QUICK, (path, took)
    response, took = _timed(client, "POST", "/api/v1/scan", json={"code": "EHC1.bad"}, headers=scan_headers)
    assert response.status_code == 422 and response.get_json()["error"] == "malformed" and took < QUICK


def test_limits_still_hold_in_process_memory(limited_app):
    client = limited_app.test_client()
    path = ROUTES[0][1]
    statuses = [_timed(client, "GET", path, address="10.9.8.7")[0].status_code for _ in range(60)]
    assert 429 not in statuses and max(statuses) < 500
    limited = _timed(client, "GET", path, address="10.9.8.7")[0]
    assert limited.status_code == 429 and "操作过于频繁" in limited.get_data(as_text=True)


def test_outage_is_logged_counted_and_reported_by_readyz(limited_app, caplog):
    client = limited_app.test_client()
    with caplog.at_level(logging.WARNING, logger="erhc"):
        for _ in range(3):
            _timed(client, "GET", ROUTES[0][1])
    outage_lines = [r for r in caplog.records if r.getMessage() == "ratelimit_store_unavailable"]
    assert len(outage_lines) == 1, "one line per outage, not one per request"
    metrics = limited_app.extensions["erhc_metrics"]
    assert metrics.dependency_failures.labels("limiter_store")._value.get() == 1
    ready, took = _timed(client, "GET", "/readyz")
    assert ready.status_code == 200 and took < QUICK
    assert ready.get_json()["status"] == "degraded" and ready.get_json()["checks"]["limiter_store"] == "unavailable"
    scrape = client.get("/metrics").get_data(as_text=True)
    assert "erhc_ratelimit_fallback_active 1.0" in scrape
    assert 'erhc_dependency_failures_total{dependency="limiter_store"} 1.0' in scrape
