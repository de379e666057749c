"""In Chromium: another account's launch link opened from another site leaves your session alone; the
on-site console refuses a look-alike document number. Screenshots mask the registration in full."""
from __future__ import annotations

from erhc_h5.db import session_scope
from erhc_h5.resident.launch import make_launch_url
from tests.browser.steps import to_methods
from tests.browser.test_journey import operator_page
from tests.support import demo_app

EVIL = "http://evil.example"  # served by the browser context itself (page.route): another site


def _launch_url(live_server, uid: str) -> str:
    with live_server.app.app_context(), session_scope(live_server.app) as session:
        app = demo_app(session)
        return make_launch_url(app, uid, app.launch_secret, base=live_server.url)


def test_cross_site_launch_link_keeps_your_session(phone, live_server, artifacts_dir):
    to_methods(phone, live_server.url)  # your own session, in the middle of your journey
    attacker_link = _launch_url(live_server, "attacker-browser")
    phone.context.route(EVIL + "/**", lambda route: route.fulfill(
        status=200, content_type="text/html; charset=utf-8",
        body=f'<!doctype html><meta charset="utf-8"><a id="bait" href="{attacker_link}">领取奖励</a>'))
    phone.goto(EVIL + "/prize")
    with phone.expect_navigation():
        phone.click("#bait")
    assert phone.url.startswith(live_server.url + "/h5/launch")
    body = phone.locator("main, body").first.inner_text()
    assert "城市App" in body and "cross_site" not in body  # the reason is for machines, not for her
    assert phone.locator("[data-reason]").get_attribute("data-reason") == "cross_site"
    phone.screenshot(path=str(artifacts_dir / "presence-cross-site-launch-refused.png"), full_page=True)
    phone.goto(live_server.url + "/h5/methods")  # still you, still where you were
    assert phone.url.endswith("/h5/methods")
    assert "测*甲" in phone.content()


def test_onsite_console_refuses_a_look_alike_document_number(browser, phone, live_server, artifacts_dir):
    weights = [pow(2, 17 - k, 11) for k in range(17)]  # GB 11643 §5.2, written here
    check = lambda body: body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]  # noqa: E731
    registered, shown = check("33010219750109568"), check("33010619800101568")
    to_methods(phone, live_server.url, name="测试乙", idcode=registered)
    phone.get_by_role("button", name="到现场核验").click()
    phone.wait_for_url("**/h5/verify/onsite")
    code = phone.locator("#onsite-code").inner_text().replace(" ", "")
    context, staff = operator_page(browser, live_server)
    private = [staff.locator(s) for s in ("#registered-name", "#registered-idcode", "#registered-birthday",
                                          "#registered-sex", "#document_number")]
    try:
        staff.goto(live_server.url + "/staff/onsite/")
        staff.get_by_label("现场认证码").fill(code)
        staff.get_by_role("button", name="查找").click()
        assert staff.locator("#registered-name").inner_text() == "测试乙"
        assert staff.locator("#registered-idcode").inner_text() == registered
        staff.locator("#document_number").fill(shown)
        staff.get_by_label("已核对证件原件,人证一致").check()
        staff.get_by_label("核验备注(请勿填写证件号码等个人信息)").fill("核验居民身份证原件")
        staff.get_by_role("button", name="确认人证一致,完成认证").click()
        assert "证件号码与登记信息不一致" in staff.locator("#document_number-error").inner_text()
        staff.screenshot(path=str(artifacts_dir / "presence-onsite-look-alike-refused.png"), full_page=True,
                         mask=private)
        staff.locator("#document_number").fill(registered.lower())
        staff.get_by_label("已核对证件原件,人证一致").check()
        staff.get_by_role("button", name="确认人证一致,完成认证").click()
        assert "现场认证已确认" in staff.content()
    finally:
        context.close()
    phone.wait_for_url("**/h5/code")
