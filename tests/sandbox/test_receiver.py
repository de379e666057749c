"""The sandbox receiver on its own: signature, skew, nonce, envelope, validation, idempotency, page."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from erhc_h5.sync.client import ProvinceClient
from erhc_h5.sandbox.models import ProvinceRecord
from erhc_h5.sandbox.receiver import current_faults, set_faults
from tests.support import demo_app, make_cards

PATH = "/sandbox-province/erhc/v1/auth-records"
CD_BATCH = "3301202611260930001"


@pytest.fixture
def signer(app):
    return ProvinceClient("http://province.test/sandbox-province", app.config["PROVINCE_APP_ID"],
                          app.config["PROVINCE_SECRET"])


@pytest.fixture
def records(db_session, seeded):
    from erhc_h5.records.models import AuthRecord

    make_cards(db_session, demo_app(db_session), 3)
    out = []
    for version in db_session.scalars(select(AuthRecord).order_by(AuthRecord.id)).all():
        out.append({**version.payload, "cd_batch": CD_BATCH})
    return out


def _body(records, cd_batch=CD_BATCH, **extra) -> bytes:
    return json.dumps({"cd_batch": cd_batch, "cd_source": "3301", "records": records, **extra},
                      ensure_ascii=False).encode()


def _post(client, signer, body: bytes, **header_changes):
    headers = {**signer.headers(body), **header_changes}
    return client.post(PATH, data=body, headers=headers)


def _held(db_session) -> int:
    return db_session.scalar(select(func.count()).select_from(ProvinceRecord))


def test_accepts_and_is_idempotent(client, signer, records, db_session):
    reply = _post(client, signer, _body(records))
    assert reply.status_code == 200
    assert reply.json == {"cd_batch": CD_BATCH, "accepted": [r["id"] for r in records], "rejected": []}
    again = _post(client, signer, _body(records))  # a resend, with a fresh nonce
    assert again.status_code == 200 and again.json["accepted"] == [r["id"] for r in records]
    assert _held(db_session) == 3


def test_rejects_bad_records_individually(client, signer, records, db_session):
    records[1]["nation"] = "77"
    records[2]["recognize_flag"] = "1"
    reply = _post(client, signer, _body(records))
    assert reply.status_code == 200
    assert reply.json["accepted"] == [records[0]["id"]]
    assert reply.json["rejected"] == [
        {"id": records[1]["id"], "errors": [{"field": "nation", "reason": "bad_code"}]},
        {"id": records[2]["id"], "errors": [{"field": "recognize_flag", "reason": "bad_value"}]},
    ]
    assert _held(db_session) == 1


@pytest.mark.parametrize("change, status, error", [
    ({"X-Erhc-App-Id": "someone-else"}, 401, "bad_app_id"),
    ({"X-Erhc-Signature": "0" * 64}, 401, "bad_signature"),
    ({"X-Erhc-Timestamp": str(int(time.time()) - 301)}, 401, "stale_timestamp"),
    ({"X-Erhc-Timestamp": "soon"}, 401, "bad_timestamp"),
    ({"X-Erhc-Nonce": "ABC"}, 401, "bad_nonce"),
])
def test_request_checks(client, signer, records, db_session, change, status, error):
    reply = _post(client, signer, _body(records), **change)
    assert reply.status_code == status and reply.json["error"] == error
    assert _held(db_session) == 0


def test_replayed_nonce_refused(client, signer, records, db_session):
    body = _body(records)
    headers = signer.headers(body)
    assert client.post(PATH, data=body, headers=headers).status_code == 200
    replay = client.post(PATH, data=body, headers=headers)
    assert replay.status_code == 401 and replay.json["error"] == "replayed_nonce"


def test_envelope_checks(client, signer, records, db_session):
    cases = [
        (b"not json", 400, "bad_json"),
        (_body(records, cd_batch="3302202611260930001"), 400, "bad_envelope"),
        (_body([{**records[0], "cd_batch": "3301202611260930002"}]), 400, "batch_mismatch"),
        (_body([records[0], records[0]]), 400, "duplicate_id"),
        (_body([records[0]] * 501), 413, "too_many_records"),
        (_body([]), 400, "bad_envelope"),
    ]
    for body, status, error in cases:
        reply = _post(client, signer, body)
        assert (reply.status_code, reply.json["error"]) == (status, error)
    assert _held(db_session) == 0


def test_faults_and_page(client, signer, records, app, db_session):
    set_faults(app, json.dumps({"status": 429, "retry_after": 7, "count": 1}))
    reply = _post(client, signer, _body(records))
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "7"
    assert current_faults(app) == {}
    set_faults(app, {"garbled_reply": True, "count": 1})
    reply = _post(client, signer, _body(records))
    assert reply.status_code == 200 and reply.get_json(silent=True) is None
    assert _post(client, signer, _body(records)).status_code == 200
    page = client.get("/sandbox-province/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "已接收的实名认证记录" in html and CD_BATCH in html
    for record in records:
        assert record["name"] not in html and record["idcode"] not in html
    posted = client.post("/sandbox-province/faults", data={"error_rate": "0.5", "latency_ms": "10"})
    assert posted.status_code == 302 and current_faults(app) == {"error_rate": 0.5, "latency_ms": 10}
    client.post("/sandbox-province/faults", data={})
    assert current_faults(app) == {}
    assert client.post("/sandbox-province/faults", data={"error_rate": "7"}).status_code == 302
    assert current_faults(app) == {}


def test_not_mounted_in_production(app):
    from erhc_h5 import create_app

    assert "province.upload" in app.view_functions
    prod = create_app({"ENV": "production", "SECRET_KEY": "x" * 32, "PII_KEYS": {"k9": "cHJvZC1rZXktMzItYnl0ZXMtbG9uZy1lbm91Z2ghIQ=="},
                       "PII_ACTIVE_KEY_ID": "k9", "EMPI_KEY": "prod-empi", "BLIND_INDEX_KEY": "prod-bidx",
                       "PROVINCE_URL": "https://province.example/api", "PROVINCE_APP_ID": "city-3301",
                       "PROVINCE_SECRET": "prod-secret", "PROVINCE_VERIFY_SECRET": "prod-verify-secret-of-length",
                       "DATABASE_URL": "postgresql+psycopg://x@127.0.0.1/x",
                       "IDENTITY_PROVIDER": "null", "SMS_PROVIDER": "null", "FACE_PROVIDER": "null",
                       "METRICS_ENABLED": False, "RATELIMIT_STORAGE_URI": "redis://cache.invalid:6379/0"})
    assert "province.upload" not in prod.view_functions
