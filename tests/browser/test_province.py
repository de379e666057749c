"""The sandbox province's page in Chromium: records arrive masked, faults change from the form."""
from __future__ import annotations

import pytest

from erhc_h5.db import session_scope
from erhc_h5.sandbox.receiver import current_faults
from erhc_h5.sync.worker import Worker
from tests.support import demo_app, make_cards
from tests.factories import person

pytestmark = pytest.mark.browser


def test_province_page_shows_masked_records_and_sets_faults(phone, live_server, artifacts_dir):
    app = live_server.app
    app.config.update(PROVINCE_URL=live_server.url + "/sandbox-province", SYNC_RETRY_BASE_SECONDS=0)
    with app.app_context(), session_scope(app) as session:
        make_cards(session, demo_app(session), 3)
    assert Worker(app).once()["accepted"] == 3
    errors: list[str] = []
    phone.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    phone.goto(live_server.url + "/sandbox-province/")
    body = phone.content()
    assert "已接收的实名认证记录" in body and "共接收" in body
    assert person(0)["idcode"] not in body and person(0)["name"] not in body
    assert person(0)["idcode"][:4] + "**********" + person(0)["idcode"][-4:] in body
    phone.get_by_label("固定返回状态码(如429、503、401)").fill("503")
    phone.get_by_label("只影响接下来的请求数").fill("2")
    phone.screenshot(path=str(artifacts_dir / "sandbox-province-before.png"), full_page=True)
    phone.get_by_role("button", name="保存故障设置").click()
    phone.wait_for_url("**/sandbox-province/")
    assert "故障设置已更新" in phone.content()
    assert current_faults(app) == {"status": 503, "count": 2}
    phone.screenshot(path=str(artifacts_dir / "sandbox-province.png"), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e], errors
