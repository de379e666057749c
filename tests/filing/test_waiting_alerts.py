"""Sends queued after a commit that did not go out tell the operator: a 申请表 the province did not take
and a link notice the SMS gateway did not take are counted on /ops, in status.json and /metrics, and
raise an alert once they have waited longer than ten minutes (the retry jobs run every few minutes)."""
from __future__ import annotations

import json
import re

from sqlalchemy import text

from erhc_h5.cards import notices
from erhc_h5.cards.service import ensure_app_user, issue_or_update_card
from erhc_h5.identity import ProviderUnavailable, get_providers
from tests.factories import demo_app, person
from tests.filing.helpers import FIELDS


def _older(db_session, table: str, minutes: int) -> None:
    """Move every row of ``table`` back in time, as if queued ``minutes`` ago (plain SQL, not the code under test)."""
    dialect = db_session.get_bind().dialect.name
    shift = (f"created_at - interval '{minutes} minutes'" if dialect == "postgresql"
             else f"datetime(created_at, '-{minutes} minutes')")
    db_session.execute(text(f"UPDATE {table} SET created_at = {shift}"))
    db_session.commit()


def _status(client, auth) -> dict:
    auth.login("ops")
    return client.get("/ops/status.json").get_json()


def test_a_filing_the_province_did_not_take_is_counted_then_alerted(app, db_session, runner, tmp_path, wire, client,
                                                                     auth):
    path = tmp_path / "app.json"
    path.write_text(json.dumps({**FIELDS, "app_filing_no": ""}, ensure_ascii=False), encoding="utf-8")
    wire.down = True
    assert runner.invoke(args=["filing", "create", "--file", str(path)]).exit_code == 0

    waiting = _status(client, auth)["waiting"]["filing_deliveries"]
    assert (waiting["count"], waiting["stuck"], waiting["last_error"]) == (1, 0, "ConnectionError")
    assert _status(client, auth)["alerts"] == []

    _older(db_session, "filing_deliveries", 11)
    status = _status(client, auth)
    assert status["waiting"]["filing_deliveries"]["stuck"] == 1
    assert [a["code"] for a in status["alerts"]] == ["filing_delivery_stuck"]
    assert "1 份备案申请表超过 10 分钟仍未送达省级平台" in status["alerts"][0]["message"]
    assert "filing deliver" in status["alerts"][0]["message"]
    page = client.get("/ops").get_data(as_text=True)
    assert 'data-alert="filing_delivery_stuck"' in page and "1 份待送达" in page and "ConnectionError" in page
    metrics = client.get("/metrics").get_data(as_text=True)
    assert re.search(r'^erhc_waiting_sends_stuck\{kind="filing_deliveries"\} 1\.0$', metrics, re.M)
    assert re.search(r'^erhc_ops_alert\{code="filing_delivery_stuck"\} 1\.0$', metrics, re.M)

    wire.down = False  # the retry job runs: delivered, the alert goes
    assert json.loads(runner.invoke(args=["filing", "deliver"]).output) == {"delivered": 1, "failed": 0}
    status = _status(client, auth)
    assert status["waiting"]["filing_deliveries"] == {"count": 0, "oldest_at": None, "stuck": 0,
                                                      "stuck_after_minutes": 10, "last_error": None}
    assert status["alerts"] == []


def test_a_link_notice_the_gateway_did_not_take_is_alerted_after_ten_minutes(app, db_session, seeded, client, auth,
                                                                             monkeypatch):
    def down(phone, params):
        raise ProviderUnavailable("timeout")

    monkeypatch.setattr(get_providers(app).sms, "send_notice", down)
    filed = demo_app(db_session)
    card = issue_or_update_card(db_session, person(8802, phone="13900008802"), filed, methods="2")
    notice = notices.queue_link_notice(db_session, card, ensure_app_user(db_session, filed, "waiting-notice"), filed)
    db_session.commit()
    assert notices.send_pending(db_session, [notice.id]) == {"sent": 0, "failed": 1}

    _older(db_session, "link_notices", 9)
    assert _status(client, auth)["alerts"] == []
    _older(db_session, "link_notices", 2)
    status = _status(client, auth)
    assert [a["code"] for a in status["alerts"]] == ["link_notice_stuck"]
    message = status["alerts"][0]["message"]
    assert "1 条账号关联提醒短信超过 10 分钟仍未发出" in message and "notices send" in message
    assert "13900008802" not in json.dumps(status, ensure_ascii=False)
    page = client.get("/ops").get_data(as_text=True)
    assert "13900008802" not in page and 'data-alert="link_notice_stuck"' in page
