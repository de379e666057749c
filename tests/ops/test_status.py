"""get_status() figures, the dashboard, status JSON, /metrics and /readyz."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from erhc_h5 import create_app
from erhc_h5.db import utcnow
from erhc_h5.filing.models import FiledApp
from erhc_h5.ops.status import get_status
from erhc_h5.cards.service import issue_or_update_card
from erhc_h5.scan.models import ScanEvent
from erhc_h5.sync.models import OutboxEntry, SyncAttempt, SyncBatch
from tests.factories import sync_batch, verification_session
from tests.support import BASE_OVERRIDES

IDENTITIES = [
    {"name": "张三丰", "id_card_type_code": "01", "idcode": "330106199003071236", "nation": "01",
     "phone": "13812345678", "county_code": "330106"},
    {"name": "李四", "id_card_type_code": "01", "idcode": "330106198501010028", "nation": "01",
     "phone": "13912345678", "county_code": "330106"},
]


def _fill(db_session, seeded):
    """Two cards (two pending versions), a rejected one, sync attempts, verifications and scans."""
    demo = db_session.scalar(select(FiledApp).where(FiledApp.access_code == seeded["app_record_no"]))
    for identity in IDENTITIES:
        issue_or_update_card(db_session, dict(identity), demo, methods="2")
    db_session.flush()
    entries = db_session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)).all()
    entries[0].created_at = utcnow() - dt.timedelta(minutes=30)
    now = utcnow()
    batch = sync_batch(db_session, "3301202611250900001", attempt_rows=[
        {"at": now - dt.timedelta(hours=3), "outcome": "http_503", "status_code": 503},
        {"at": now - dt.timedelta(hours=2), "outcome": "timeout"},
        {"at": now - dt.timedelta(hours=1), "outcome": "ok", "status_code": 200, "accepted": 0, "rejected": 1},
        {"at": now - dt.timedelta(hours=30), "outcome": "timeout"},  # outside 24 h
    ])
    entries[1].state, entries[1].batch_id = "rejected", batch.id
    entries[1].errors = [{"field": "county_code", "reason": "unknown_county"}]
    for i, state in enumerate(["passed", "passed", "failed", "locked", "in_progress"]):
        verification_session(db_session, f"vs{i}", state=state, app_id=demo.id)
    verification_session(db_session, "vx", method="3", app_id=demo.id)
    db_session.add_all([
        ScanEvent(site_name="一号接种点", result="authenticated"),
        ScanEvent(site_name="一号接种点", result="not_authenticated"),
        ScanEvent(site_name="一号接种点", result="expired_code"),
        ScanEvent(site_name="二号接种点", result="authenticated"),
        ScanEvent(site_name="二号接种点", result="authenticated", at=now - dt.timedelta(days=2)),
    ])
    db_session.commit()
    return demo


def test_get_status_figures(db_session, seeded):
    demo = _fill(db_session, seeded)
    s = get_status(db_session)
    assert s["outbox"]["by_state"]["pending"] == 1 and s["outbox"]["by_state"]["rejected"] == 1
    assert s["outbox"]["backlog"] == 1 and 1700 < s["outbox"]["oldest_pending_age_seconds"] < 1900
    assert s["sync"]["attempts"] == 3 and s["sync"]["failures_by_reason"] == {"http_503": 1, "timeout": 1}
    assert sum(h["ok"] for h in s["sync"]["hours"]) == 1 and len(s["sync"]["hours"]) == 24
    assert s["province"]["state"] == "ok"
    assert s["rejected"][0]["errors"] == [{"field": "county_code", "reason": "unknown_county"}]
    funnel = {(row["method"], row["app_id"]): row for row in s["verification"]["funnel"]}
    assert funnel[("2", demo.id)] | {} == {"method": "2", "app_id": demo.id, "app": demo.app_name, "started": 5,
                                           "passed": 2, "failed": 1, "locked": 1}
    assert funnel[("3", demo.id)]["passed"] == 1 and s["verification"]["totals"]["started"] == 6
    sites = {row["site"]: row for row in s["scans"]}
    assert sites["一号接种点"]["total"] == 3 and sites["一号接种点"]["refused"] == 1
    assert sites["二号接种点"]["total"] == 1
    assert s["filing"]["approved"] >= 1


def test_status_has_no_personal_data(db_session, seeded, client, auth):
    _fill(db_session, seeded)
    auth.login("ops")
    body = client.get("/ops/status.json").get_data(as_text=True) + client.get("/ops").get_data(as_text=True)
    body += client.get("/metrics").get_data(as_text=True)
    for identity in IDENTITIES:
        for key in ("name", "idcode", "phone"):
            assert identity[key] not in body


def test_dashboard_shows_failing_province_and_chart(db_session, seeded, client, auth):
    _fill(db_session, seeded)
    batch = db_session.scalar(select(SyncBatch))
    db_session.add(SyncAttempt(batch_id=batch.id, at=utcnow(), outcome="http_503", status_code=503))
    db_session.commit()
    auth.login("ops")
    html = client.get("/ops").get_data(as_text=True)
    assert "省级平台上传失败(http_503)" in html
    assert html.count('class="bar-failed"') == 3 and "<svg" in html  # 3 hours with failures in 24 h
    assert "county_code" in html and "unknown_county" in html and "一号接种点" in html
    assert 'src="/static/js/ops.js"' in html and "<script>" not in html and "style=" not in html


def test_status_json_matches_get_status(db_session, seeded, client, auth):
    _fill(db_session, seeded)
    auth.login("ops")
    data = client.get("/ops/status.json").get_json()
    assert data["outbox"]["backlog"] == 1 and data["sync"]["failures_by_reason"]["timeout"] == 1
    assert set(data) >= {"outbox", "sync", "province", "rejected", "verification", "scans", "filing"}


def test_metrics_prometheus_text(db_session, seeded, client):
    _fill(db_session, seeded)
    client.get("/healthz")
    client.get("/no-such-page")
    response = client.get("/metrics")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert 'erhc_outbox_entries{state="pending"} 1.0' in text
    assert "erhc_outbox_backlog 1.0" in text
    assert 'erhc_sync_failures_24h{reason="timeout"} 1.0' in text
    assert 'erhc_http_requests_total{endpoint="ops.healthz",method="GET",status="200"} 1.0' in text
    assert 'erhc_http_requests_total{endpoint="unmatched",method="GET",status="404"} 1.0' in text
    assert re.search(r'erhc_verification_sessions_24h\{app_id="\d+",method="2",stage="passed"\} 2\.0', text)
    from prometheus_client.parser import text_string_to_metric_families

    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"erhc_http_requests", "erhc_outbox_entries", "erhc_province_up", "erhc_scans_24h"} <= names


def test_metrics_token_when_configured(app, client, seeded):
    app.config["OPS_TOKEN"] = "s" * 32
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer " + "s" * 32}).status_code == 200


def test_readyz_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok",
                                                                 "limiter_store": "disabled"}}


def test_readyz_not_migrated_is_503(tmp_path):
    app = create_app({**BASE_OVERRIDES, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "not_ready", "checks": {"database": "ok", "migrations": "behind",
                                                                     "limiter_store": "disabled"}}


def test_readyz_database_down_is_503(tmp_path):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    app = create_app({**BASE_OVERRIDES, "DATABASE_URL": url})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["database"] == "unavailable"


def test_requeue_single_rejected_entry(db_session, seeded, client, auth):
    _fill(db_session, seeded)
    rejected = db_session.scalar(select(OutboxEntry).where(OutboxEntry.state == "rejected"))
    auth.login("ops")
    response = client.post("/ops/requeue", data={"entry_id": rejected.id}, follow_redirects=True)
    assert response.status_code == 200 and "重新排队" in response.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(OutboxEntry, rejected.id).state != "rejected"
    from erhc_h5.audit import AuditEntry

    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "ops.requeue")) is not None
