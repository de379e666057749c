"""Failures seen by the resident: 失败, provider outage with a free retry, lockout with the unlock time, expiry."""
from __future__ import annotations

import datetime as dt

from erhc_h5.db import utcnow
from erhc_h5.timefmt import beijing_now


def test_failure_then_final_failure_page(journey, client, app):
    journey.ready(identity={"name": "测试失败"})
    first = client.post("/h5/verify/two-factor", follow_redirects=True).get_data(as_text=True)
    # The tries a resident reads are the account's lock count, across sessions (not this session's).
    assert "核验未通过" in first and f"本账号还可尝试{app.config['LOCKOUT_FAILURES'] - 1}次" in first
    client.post("/h5/verify/two-factor")
    last = client.post("/h5/verify/two-factor")
    assert last.headers["Location"] == "/h5/status"
    page = client.get("/h5/status").get_data(as_text=True)
    assert "实名认证未通过" in page and "查看电子健康码" not in page
    # A refuted identity is nobody's registration: no card, nothing queued upward.
    from erhc_h5.records.models import AuthRecord
    from erhc_h5.cards.service import find_card
    from erhc_h5.cards.models import EHealthCard
    from tests.factories import count
    from tests.support import IDENTITY

    assert find_card(journey.db, "01", IDENTITY["idcode"]) is None
    assert count(journey.db, EHealthCard) == 0 and count(journey.db, AuthRecord) == 0


def test_provider_timeout_offers_retry_without_spending_an_attempt(journey, client, provider_mode):
    journey.ready()
    provider_mode("timeout")
    response = client.post("/h5/verify/two-factor")
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "服务暂时不可用,不是您的问题,请稍后重试" in page and 'action="/h5/verify/two-factor"' in page
    assert journey.vs().attempts == 0 and journey.vs().state == "in_progress"
    provider_mode("normal")
    assert client.post("/h5/verify/two-factor").headers["Location"] == "/h5/code"


def test_lockout_shows_unlock_time_in_beijing(journey, client, app):
    attempts = 0
    for uid in ("lock-a", "lock-b"):
        journey.ready(uid=uid, identity={"name": "测试失败"})
        while attempts < app.config["LOCKOUT_FAILURES"] and journey.vs().state == "in_progress":
            client.post("/h5/verify/two-factor")
            attempts += 1
    assert journey.vs().state == "locked"
    page = client.get("/h5/status").get_data(as_text=True)
    assert "认证已暂时锁定" in page and "解锁" in page and "北京时间" in page
    expected = (beijing_now() + dt.timedelta(hours=app.config["LOCKOUT_WINDOW_HOURS"])).strftime("%Y年%m月%d日 %H:")
    assert expected in page
    # Another user trying the same document meets the lock at the identity step.
    journey.launch("lock-c")
    journey.consent()
    assert journey.identity(name="测试失败").headers["Location"] == "/h5/status"


def test_idle_session_expires(journey, client, app):
    journey.ready()
    vs = journey.vs()
    vs.updated_at = utcnow() - dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 1)
    journey.db.commit()
    assert client.get("/h5/methods").headers["Location"] == "/h5/status"
    assert "本次认证已超时" in client.get("/h5/status").get_data(as_text=True)
