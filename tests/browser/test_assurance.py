"""Knowledge is not proof, as a resident sees it in Chromium at 360×740: the true tries left, a
stranger's failures that slow only the knowledge check, and three-factor still passing."""
from __future__ import annotations

import re

import requests

from tests.browser.steps import to_methods
from tests.browser.test_journey import expect_code_face, shot
from tests.support import SourceAddress

VICTIM_ID = "330106199003071236"


def stranger_fails(live_server, i: int) -> None:
    """A stranger on their own account and address types the victim's number with a wrong name."""
    from erhc_h5.filing.models import FiledApp
    from erhc_h5.db import session_scope
    from erhc_h5.resident.launch import make_launch_url
    from sqlalchemy import select

    app = live_server.app
    with app.app_context(), session_scope(app) as db:
        demo_app = db.scalar(select(FiledApp).where(FiledApp.app_filing_no == app.config["DEMO"]["app_record_no_recognize"]))
        url = make_launch_url(demo_app, f"stranger-{i}", demo_app.launch_secret, base=live_server.url)
    s = requests.Session()
    s.mount("http://", SourceAddress(f"127.0.4.{i + 1}"))

    def post(path: str, data: dict) -> requests.Response:
        page = s.get(live_server.url + path, timeout=30).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        return s.post(live_server.url + path, data={**data, "csrf_token": token}, timeout=30, allow_redirects=False)

    assert s.get(url, timeout=30, allow_redirects=False).status_code == 302
    post("/h5/consent", {"agree": "y"})
    post("/h5/identity", {"name": "测试失败", "id_card_type_code": "01", "idcode": VICTIM_ID})
    post("/h5/profile", {"nation": "01", "phone": f"1370003{i:04d}", "county_code": "330106"})
    page = s.get(live_server.url + "/h5/methods", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    s.post(live_server.url + "/h5/verify/two-factor", data={"csrf_token": token}, timeout=30, allow_redirects=False)


def test_two_failures_show_the_true_count(phone, live_server, artifacts_dir):
    limit = live_server.app.config["LOCKOUT_FAILURES"]
    to_methods(phone, live_server.url, name="测试失败")
    for _ in range(2):
        phone.get_by_role("button", name="姓名+身份证号核验").click()
        phone.wait_for_url("**/h5/methods")
    assert f"本账号还可尝试{limit - 2}次" in phone.locator(".flash-error").inner_text()
    assert f"本账号还可尝试{limit - 2}次" in phone.locator("#tries-left").inner_text()
    shot(phone, artifacts_dir, "assurance-two-failures")


def test_strangers_failures_slow_two_factor_but_three_factor_passes(phone, live_server, artifacts_dir):
    for i in range(live_server.app.config["LOCKOUT_FAILURES"] + 1):
        stranger_fails(live_server, i)
    to_methods(phone, live_server.url, idcode=VICTIM_ID)  # not locked: the identity step lets her through
    phone.get_by_role("button", name="姓名+身份证号核验").click()
    phone.wait_for_url("**/h5/methods")
    message = phone.locator(".flash-error").inner_text()
    assert "需等待" in message and "加手机短信验证" in message
    shot(phone, artifacts_dir, "assurance-slowed")
    phone.get_by_role("link", name="加手机短信验证").click()
    phone.get_by_role("button", name="获取验证码").click()
    phone.fill("input[name=otp]", phone.locator("#sandbox-otp strong").inner_text())
    phone.get_by_role("button", name="提交验证").click()
    expect_code_face(phone)
    shot(phone, artifacts_dir, "assurance-three-factor-passed")
