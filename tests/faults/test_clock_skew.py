"""Issuing and verifying servers whose clocks disagree: within CODE_CLOCK_SKEW_SECONDS either way a
fresh code scans; beyond it the refusal names the clock that matters (the code face's refresh, the
servers' clocks), never the scanning device's, which sends no time."""
from __future__ import annotations

import time

import pytest

from erhc_h5.code import tokens
from tests.factories import make_card

REAL_TIME = time.time


@pytest.fixture
def scan(client, seeded):
    headers = {"Authorization": f"Bearer {seeded['device_token']}"}
    return lambda code: client.post("/api/v1/scan", json={"code": code}, headers=headers)


def _issue_then_scan(app, db_session, seeded, scan, monkeypatch, verifier_offset: float, age: float = 0):
    """Issue a code on the issuer's clock, ``age`` seconds ago, and scan it on a server whose clock
    is ``verifier_offset`` seconds ahead (negative: behind) of the issuer's."""
    card, _, _ = make_card(db_session, seeded)
    issuer_now = REAL_TIME()
    code = tokens.issue(db_session, card.id, issuer_now - age).text
    db_session.commit()
    monkeypatch.setattr(time, "time", lambda: REAL_TIME() + verifier_offset)
    return scan(code)


@pytest.mark.parametrize("offset", [-60, -5, 5, 60])
def test_fresh_code_scans_with_servers_a_minute_apart(app, db_session, seeded, scan, monkeypatch, offset):
    assert app.config["CODE_CLOCK_SKEW_SECONDS"] >= 60
    reply = _issue_then_scan(app, db_session, seeded, scan, monkeypatch, offset)
    assert reply.status_code == 200 and reply.get_json()["result"] == "authenticated", reply.get_json()


def test_code_near_its_end_still_scans_on_a_server_ahead(app, db_session, seeded, scan, monkeypatch):
    ttl, skew = app.config["CODE_TTL_SECONDS"], app.config["CODE_CLOCK_SKEW_SECONDS"]
    reply = _issue_then_scan(app, db_session, seeded, scan, monkeypatch, skew - 5, age=ttl - 5)
    assert reply.status_code == 200, reply.get_json()


def test_beyond_the_tolerance_ahead_is_expired_and_says_refresh(app, db_session, seeded, scan, monkeypatch):
    ttl, skew = app.config["CODE_TTL_SECONDS"], app.config["CODE_CLOCK_SKEW_SECONDS"]
    reply = _issue_then_scan(app, db_session, seeded, scan, monkeypatch, ttl + skew + 1)
    body = reply.get_json()
    assert reply.status_code == 422 and body["error"] == "expired"
    assert "刷新码面" in body["message"]


def test_beyond_the_tolerance_behind_names_the_server_clock(app, db_session, seeded, scan, monkeypatch):
    skew = app.config["CODE_CLOCK_SKEW_SECONDS"]
    reply = _issue_then_scan(app, db_session, seeded, scan, monkeypatch, -(skew + 5))
    body = reply.get_json()
    assert reply.status_code == 422 and body["error"] == "not_yet_valid"
    assert "服务器" in body["message"] and "核对设备时间" not in body["message"]


def test_tolerance_is_configurable(app, db_session, seeded, scan, monkeypatch):
    app.config["CODE_CLOCK_SKEW_SECONDS"] = 10
    reply = _issue_then_scan(app, db_session, seeded, scan, monkeypatch, app.config["CODE_TTL_SECONDS"] + 11)
    assert reply.get_json()["error"] == "expired"
