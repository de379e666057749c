"""The electronic filing path in Chromium: the city's admin sends a filing to the province in the
console, the provincial reviewer approves it on the sandbox province's page with numbers of their
own, and the city's filing page shows exactly those numbers."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from erhc_h5.db import session_scope
from erhc_h5.filing import services, uploads
from erhc_h5.filing.models import FiledApp, FilingDelivery
from erhc_h5.staff.models import StaffUser
from tests.browser.conftest import demo_json
from tests.factories import image_bytes
from tests.filing.helpers import FIELDS
from tests.support import wait_until

DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"}


def _submitted_filing(app) -> int:
    with app.app_context(), session_scope(app) as session:
        reviewer = session.scalar(select(StaffUser).where(StaffUser.username == "demo-reviewer"))
        filed = services.create_application(session, {**FIELDS, "app_name": "电子报送测试App",
                                                      "app_filing_no": "", "auth_methods": "2^3"},
                                            actor_id=reviewer.id)
        uploads.add_screen(session, filed, image_bytes("PNG"), actor_id=reviewer.id)
        services.transition(session, filed, "submit", actor_id=reviewer.id)
        return filed.id


def _delivery(app, filing_id: int) -> tuple:
    with app.app_context(), session_scope(app) as session:
        row = session.scalar(select(FilingDelivery).where(FilingDelivery.app_id == filing_id))
        return (row.state, row.attempts, row.last_error) if row else None


@pytest.mark.slow
def test_city_and_provincial_reviewers_file_an_app_without_retyping(browser, live_server, tmp_path):
    app, base = live_server.app, live_server.url
    app.config.update(PROVINCE_FILING_URL=base + "/sandbox-province/filings/applications",
                      SANDBOX_PROVINCE_CITIES={"3301": base}, UPLOAD_DIR=str(tmp_path / "uploads"))
    filing_id = _submitted_filing(app)
    admin = demo_json(live_server)["users"]["admin"]
    context = browser.new_context(**DESKTOP)
    desk = context.new_page()
    desk.set_default_timeout(15000)
    try:
        desk.goto(base + "/staff/login")
        desk.get_by_label("用户名").fill(admin["username"])
        desk.get_by_label("密码").fill(admin["password"])
        desk.get_by_role("button", name="登录").click()
        desk.goto(f"{base}/staff/filing/{filing_id}")
        desk.get_by_label("管理单位意见").fill("同意报省")
        with desk.expect_navigation():
            desk.get_by_role("button", name="审核通过并提交省级").click()
        # Delivered right after the response, with no retry run: the browser keeping its connection
        # open must not hold the send back.
        delivered = lambda: (_delivery(app, filing_id) or ("",))[0] == "delivered"  # noqa: E731
        assert wait_until(delivered, timeout=10), _delivery(app, filing_id)
        desk.reload()
        assert desk.locator("#filing-delivery").inner_text() == "已电子报送省级"

        desk.goto(base + "/sandbox-province/filings/")
        desk.get_by_role("link", name="电子报送测试App").click()
        desk.get_by_label("应用备案号").fill("ZJ-BROWSER-0901")
        desk.get_by_label("接入组件入网编码").fill("330101000901")
        desk.get_by_label("管理单位意见").fill("同意备案(省级)")
        desk.get_by_role("button", name="提交审批结果").click()
        assert desk.locator("#city-reply").inner_text() == "已登记"

        desk.goto(f"{base}/staff/filing/{filing_id}")
        decision = desk.locator("#province-decision").inner_text()
        assert "ZJ-BROWSER-0901" in decision and "330101000901" in decision and "同意备案(省级)" in decision
    finally:
        context.close()
    with app.app_context(), session_scope(app) as session:
        filed = session.get(FiledApp, filing_id)
        assert (filed.status, filed.app_filing_no, filed.access_code) == ("approved", "ZJ-BROWSER-0901", "330101000901")
