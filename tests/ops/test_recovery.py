"""Done-when: with the sandbox province failing the dashboard shows it on the next refresh; when it
recovers, requeue brings the backlog to zero (real worker, real receiver on a live port)."""
from __future__ import annotations

import re

from erhc_h5.sandbox import demo
from erhc_h5.db import session_scope


def _backlog(html: str) -> int:
    return int(re.search(r'<dd id="backlog">(\d+)</dd>', html).group(1))


def test_failing_province_shows_then_requeue_drains(chain):  # noqa: F811
    chain.cards(4)
    with chain.app.app_context(), session_scope(chain.app) as session:
        creds = demo.seed(chain.app, session)["users"]["ops"]
    client = chain.app.test_client()
    assert client.post("/staff/login", data=creds).status_code == 302
    assert _backlog(client.get("/ops").get_data(as_text=True)) == 4

    chain.faults(status=503)
    figures = chain.once(SYNC_MAX_ATTEMPTS=1)
    assert figures["attempts"] >= 1
    html = client.get("/ops").get_data(as_text=True)
    assert "省级平台上传失败" in html and _backlog(html) == 0  # the batch is dead, not waiting
    status = client.get("/ops/status.json").get_json()
    assert status["outbox"]["by_state"]["dead"] == 4 and status["province"]["state"] == "failing"

    chain.faults()
    html = client.post("/ops/requeue", follow_redirects=True).get_data(as_text=True)
    assert "已重新排队 4 条记录版本" in html
    assert _backlog(html) == 4
    chain.once()
    html = client.get("/ops").get_data(as_text=True)
    assert _backlog(html) == 0 and "省级平台上传正常" in html
    status = client.get("/ops/status.json").get_json()
    assert status["outbox"]["by_state"]["accepted"] == 4 and status["outbox"]["by_state"]["dead"] == 0
