"""A code refused as expired or not yet valid because a clock is off: the nurse is told which clock,
not to have the resident refresh (which cannot help); a really stale code keeps the refresh advice."""
from __future__ import annotations

import time

import pytest

from erhc_h5.code import tokens
from erhc_h5.scan import clock
from tests.factories import make_card, sync_batch

REAL_TIME = time.time
AHEAD = 600  # ten minutes
REFRESH = "请居民在App中刷新码面"


@pytest.fixture
def api(client, seeded):
    headers = {"Authorization": f"Bearer {seeded['device_token']}"}
    return lambda body: client.post("/api/v1/scan", json=body, headers=headers)


def _code(db_session, seeded, age: float = 0) -> str:
    card, _, _ = make_card(db_session, seeded)
    code = tokens.issue(db_session, card.id, REAL_TIME() - age).text
    db_session.commit()
    return code


def _server_ahead(monkeypatch, seconds: float) -> None:
    monkeypatch.setattr(time, "time", lambda: REAL_TIME() + seconds)


def test_server_ahead_of_the_device_and_the_code_names_the_clock(db_session, seeded, api, monkeypatch):
    code = _code(db_session, seeded)
    device_now = REAL_TIME()
    _server_ahead(monkeypatch, AHEAD)
    reply = api({"code": code, "device_time": device_now})
    body = reply.get_json()
    assert reply.status_code == 422 and body["error"] == "expired"  # the reason code stays
    assert "本机时间与服务器相差约10分钟" in body["message"] and "刷新码面无济于事" in body["message"]
    assert REFRESH not in body["message"]


def test_issuer_ahead_not_yet_valid_names_the_clock(db_session, seeded, api, monkeypatch):
    code = _code(db_session, seeded)
    device_now = REAL_TIME()
    _server_ahead(monkeypatch, -AHEAD)  # this server behind the issuer and the device
    body = api({"code": code, "device_time": device_now}).get_json()
    assert body["error"] == "not_yet_valid"
    assert "本机时间与服务器相差约10分钟" in body["message"] and "刷新码面无济于事" in body["message"]


def test_stale_code_with_clocks_in_agreement_keeps_the_refresh_advice(db_session, seeded, api):
    code = _code(db_session, seeded, age=AHEAD)
    body = api({"code": code, "device_time": REAL_TIME()}).get_json()
    assert body == {"error": "expired", "message": tokens.MESSAGES["expired"]}


def test_stale_code_on_a_device_an_hour_off_says_both(db_session, seeded, api):
    code = _code(db_session, seeded, age=AHEAD)
    body = api({"code": code, "device_time": REAL_TIME() - 3600}).get_json()
    assert body["error"] == "expired"
    assert "本机时间与服务器相差约60分钟,请校准设备时间" in body["message"] and REFRESH in body["message"]


def test_server_skewed_against_the_province_says_so_without_device_time(app, db_session, seeded, api, monkeypatch):
    sync_batch(db_session, "3301202612030800001",
               attempt_rows=[{"outcome": "ok", "clock_offset_seconds": -float(AHEAD)}])
    db_session.commit()
    code = _code(db_session, seeded)
    _server_ahead(monkeypatch, AHEAD)
    body = api({"code": code}).get_json()
    assert body["error"] == "expired"
    assert "平台服务器时钟比省级平台快约10分钟" in body["message"] and "运维" in body["message"]
    assert REFRESH not in body["message"]


@pytest.mark.parametrize("device_time", ["soon", True, None, [1], 1e300, float("nan"), -5, "1e12"])
def test_unusable_device_time_is_ignored_not_refused(db_session, seeded, api, device_time):
    code = _code(db_session, seeded)
    reply = api({"code": code, "device_time": device_time})
    assert reply.status_code == 200 and reply.get_json()["result"] == "authenticated"


def test_unusable_device_time_values():
    assert [clock.device_time(v) for v in ("1796281000", 1796281000.5, "x", True, None, 5, float("inf"))] == [
        1796281000.0, 1796281000.5, None, None, None, None, None]


def test_console_sends_the_browser_clock_and_shows_the_clock_advice(client, db_session, seeded, auth, monkeypatch):
    auth.login("nurse")
    code = _code(db_session, seeded)
    device_now = REAL_TIME()
    _server_ahead(monkeypatch, AHEAD)
    page = client.post("/scan", data={"code": code, "device_time": str(device_now)}).text
    assert "本机时间与服务器相差约10分钟" in page and "原因代码:expired" in page
    assert 'name="device_time"' in client.get("/scan").text
