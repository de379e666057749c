"""Builders for the electronic filing path's tests: a filing awaiting the province, and signed calls
made with the test's own HMAC (written here from docs/contracts.md, not the city's checker)."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from erhc_h5.config import DEV_PROVINCE_VERIFY_SECRET
from erhc_h5.filing.delivery import TRANSPORT
from erhc_h5.sandbox.filing_books import CITY_TRANSPORT
from erhc_h5.staff.models import StaffUser
from tests.factories import pending_filing
from tests.filing.helpers import beijing_today

DECISION_PATH = "/api/v1/province/filing-decision"
VERIFY_ID = "sandbox-province-verify"
APPLICATIONS = "/sandbox-province/filings/applications"


def sign(secret: str, path: str, stamp: str, nonce: str, body: bytes) -> str:
    text = "POST\n" + path + "\n" + stamp + "\n" + nonce + "\n" + hashlib.sha256(body).hexdigest()
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def signed(body: bytes, *, path: str = DECISION_PATH, secret: str = DEV_PROVINCE_VERIFY_SECRET,
           app_id: str = VERIFY_ID, stamp: int | None = None, nonce: str | None = None) -> dict:
    stamp_text = str(int(time.time()) if stamp is None else stamp)
    nonce = nonce or secrets.token_hex(16)
    return {"X-Erhc-App-Id": app_id, "X-Erhc-Timestamp": stamp_text, "X-Erhc-Nonce": nonce,
            "X-Erhc-Signature": sign(secret, path, stamp_text, nonce, body), "Content-Type": "application/json"}


def decision_body(filing_id: int, **changes) -> bytes:
    body = {"filing_id": filing_id, "outcome": "approved", "app_filing_no": "ZJBA3301-0042",
            "access_code": "330101000042", "opinion": "同意备案(省级)", "decided_on": beijing_today(),
            "decision_no": "ZJSP-2026-0042", **changes}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


@pytest.fixture
def reviewer(seeded, db_session):
    """The demo reviewer: drafts and submits."""
    return db_session.scalar(select(StaffUser).where(StaffUser.username == "demo-reviewer"))


@pytest.fixture
def checker(seeded, db_session):
    """The demo admin, a second account: the one that drafted or submitted an application may not approve it."""
    return db_session.scalar(select(StaffUser).where(StaffUser.username == "demo-admin"))


@pytest.fixture
def staff(reviewer, checker):
    """(reviewer, checker): the demo reviewer drafts, the demo admin passes the city's review."""
    return reviewer, checker


@pytest.fixture
def upload_dir(app, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    return tmp_path / "uploads"


@pytest.fixture
def pending(db_session, staff, upload_dir):
    filed = pending_filing(db_session, *staff)
    db_session.commit()
    assert filed.status == "province_pending"
    return filed


class Wire:
    """Both directions through the WSGI test client, keeping what crossed; ``down`` makes the
    province unreachable."""

    def __init__(self, app):
        self.province, self.city = app.test_client(), app.test_client()
        self.sent: list[tuple[str, bytes, dict]] = []
        self.decisions: list[bytes] = []
        self.down = False

    def to_province(self, url, body, headers):
        if self.down:
            raise requests.ConnectionError("province unreachable")
        self.sent.append((url, body, headers))
        return self.province.post(urlsplit(url).path, data=body, headers=headers).status_code

    def to_city(self, url, body, headers):
        self.decisions.append(body)
        reply = self.city.post(urlsplit(url).path, data=body, headers=headers)
        return reply.status_code, reply.get_json() or {}


@pytest.fixture
def wire(app):
    app.config["PROVINCE_FILING_URL"] = "http://province.test" + APPLICATIONS
    wire = Wire(app)
    app.extensions[TRANSPORT], app.extensions[CITY_TRANSPORT] = wire.to_province, wire.to_city
    yield wire
    app.extensions.pop(TRANSPORT), app.extensions.pop(CITY_TRANSPORT)
