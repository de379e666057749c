"""The resident journey in real Chromium on a phone viewport: every method, failures, a lockout."""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import PHONE, demo_json
from tests.browser.steps import IDCODE, agree, start, to_methods

def shot(page, artifacts_dir, name):
    page.screenshot(path=str(artifacts_dir / f"journey-{name}.png"), full_page=True)


def expect_code_face(page):
    page.wait_for_url("**/h5/code")
    assert page.locator("img[alt=电子健康码]").count() == 1


def operator_page(browser, live_server):
    context = browser.new_context(viewport={"width": 1024, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    creds = demo_json(live_server)["users"]["operator"]
    page.goto(live_server.url + "/staff/login")
    page.get_by_label("用户名").fill(creds["username"])
    page.get_by_label("密码").fill(creds["password"])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/staff/")
    return context, page


def test_two_factor(phone, live_server, artifacts_dir):
    to_methods(phone, live_server.url)
    shot(phone, artifacts_dir, "methods")
    phone.get_by_role("button", name="姓名+身份证号核验").click()
    expect_code_face(phone)
    shot(phone, artifacts_dir, "two-factor-code")


def test_bad_input_shows_message_beside_field(phone, live_server, artifacts_dir):
    start(phone, live_server.url)
    agree(phone)
    phone.fill("input[name=name]", "测试1")
    phone.fill("input[name=idcode]", "330106199003071232")
    phone.get_by_role("button", name="下一步").click()
    assert phone.locator("#name-error").inner_text() == "姓名不能包含数字"
    assert "校验位不正确" in phone.locator("#idcode-error").inner_text()
    assert phone.locator("#idcode").get_attribute("aria-describedby").endswith("idcode-error")
    assert phone.input_value("input[name=idcode]") == "330106199003071232"
    shot(phone, artifacts_dir, "identity-errors")


def test_three_factor_with_sandbox_otp(phone, live_server, artifacts_dir):
    to_methods(phone, live_server.url)
    phone.get_by_role("link", name="加手机短信验证").click()
    phone.get_by_role("button", name="获取验证码").click()
    code = phone.locator("#sandbox-otp strong").inner_text()
    assert re.fullmatch(r"\d{6}", code)
    assert phone.locator("#send-otp").is_disabled()  # the 60 s cool-down
    phone.fill("input[name=otp]", code)
    shot(phone, artifacts_dir, "three-factor-otp")
    phone.get_by_role("button", name="提交验证").click()
    expect_code_face(phone)


def test_face_with_fake_camera_then_operator_confirms(browser, phone, live_server, artifacts_dir):
    to_methods(phone, live_server.url)
    phone.get_by_role("link", name="刷脸核验 + 到现场核验").click()
    phone.wait_for_function("() => { const v = document.getElementById('preview');"
                            " return v.readyState >= 2 && v.videoWidth > 0; }")
    assert phone.locator("#preview").get_attribute("playsinline") is not None
    shot(phone, artifacts_dir, "face-camera")
    phone.get_by_role("button", name="拍照并提交").click()
    phone.wait_for_url("**/h5/verify/onsite")
    code = phone.locator("#onsite-code").inner_text().replace(" ", "")
    assert len(code) == 8
    shot(phone, artifacts_dir, "face-onsite-code")
    context, staff = operator_page(browser, live_server)
    try:
        staff.goto(live_server.url + "/staff/onsite/")
        staff.get_by_label("现场认证码").fill(code.lower())
        staff.get_by_role("button", name="查找").click()
        assert staff.locator("#registered-name").inner_text() == "测试甲"
        staff.locator("#document_number").fill(IDCODE)
        staff.get_by_label("已核对证件原件,人证一致").check()
        staff.get_by_label("核验备注(请勿填写证件号码等个人信息)").fill("核验居民身份证原件")
        private = [staff.locator(s) for s in ("#registered-name", "#registered-idcode", "#registered-birthday",
                                              "#registered-sex", "#document_number")]
        staff.screenshot(path=str(artifacts_dir / "journey-operator-review.png"), full_page=True, mask=private)
        staff.get_by_role("button", name="确认人证一致,完成认证").click()
        assert "现场认证已确认" in staff.content()
    finally:
        context.close()
    expect_code_face(phone)  # the waiting page polls and moves on by itself
    assert "面部识别" in phone.content() or "现场认证" in phone.content()


def test_onsite_registration_without_phone(browser, live_server, artifacts_dir):
    context, staff = operator_page(browser, live_server)
    try:
        staff.goto(live_server.url + "/staff/onsite/register")
        staff.fill("input[name=name]", "测试丙")
        staff.fill("input[name=idcode]", "11010519491231002X")
        staff.select_option("select[name=nation]", "01")
        staff.fill("input[name=linkman]", "测试丁")
        staff.fill("input[name=telephone]", "13900000003")
        staff.fill("textarea[name=note]", "核验户口簿原件")
        staff.get_by_role("button", name="核验证件原件无误,登记并完成认证").click()
        assert "已完成现场登记" in staff.content()
        staff.screenshot(path=str(artifacts_dir / "journey-onsite-register.png"), full_page=True)
    finally:
        context.close()


def test_failure_with_shibai_name(phone, live_server, artifacts_dir):
    to_methods(phone, live_server.url, name="测试失败")
    phone.get_by_role("button", name="姓名+身份证号核验").click()
    phone.wait_for_url("**/h5/methods")
    assert "核验未通过" in phone.locator(".flash-error").inner_text()
    shot(phone, artifacts_dir, "failure")


def test_provider_timeout_then_retry(phone, live_server, artifacts_dir):
    to_methods(phone, live_server.url)
    live_server.app.config["SANDBOX_PROVIDER_MODE"] = "timeout"
    try:
        phone.get_by_role("button", name="姓名+身份证号核验").click()
        assert "服务暂时不可用,不是您的问题,请稍后重试" in phone.content()
        shot(phone, artifacts_dir, "provider-timeout")
    finally:
        live_server.app.config["SANDBOX_PROVIDER_MODE"] = "normal"
    phone.get_by_role("button", name="重试").click()
    expect_code_face(phone)


def test_lockout_after_five_failures_shows_unlock_time(phone, live_server, artifacts_dir):
    limit = live_server.app.config["LOCKOUT_FAILURES"]
    to_methods(phone, live_server.url, name="测试失败")
    for n in range(limit):
        if phone.url.endswith("/h5/status"):  # this session is over: start again with the same document
            phone.get_by_role("link", name="重新认证").click()
            to_methods(phone, live_server.url, name="测试失败", from_root=False)
        phone.get_by_role("button", name="姓名+身份证号核验").click()
    phone.wait_for_url("**/h5/status")
    unlock = phone.locator("#unlock-time").inner_text()
    assert "认证已暂时锁定" in phone.content() and re.search(r"\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}", unlock)
    assert phone.locator("#hotline").is_visible() and phone.locator("#onsite-points li").count() >= 1
    assert "代码" not in phone.locator("main").inner_text()
    shot(phone, artifacts_dir, "lockout")


@pytest.mark.parametrize("large", [False, True])
def test_tap_targets_and_text_size(phone, live_server, artifacts_dir, large):
    phone.goto(live_server.url + "/")
    if large:
        with phone.expect_navigation():  # the cookie is set by a redirect back to this page
            phone.get_by_role("link", name="大字模式").click()
    size = phone.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert size == (20 if large else 18)
    heights = phone.eval_on_selector_all("a.btn, button, .r-tools a", "els => els.map(e => e.getBoundingClientRect().height)")
    assert heights and min(heights) >= 44
    shot(phone, artifacts_dir, "service-large" if large else "service")


def test_environment_check_reports_camera_and_js(phone, live_server, artifacts_dir):
    phone.goto(live_server.url + "/h5/check")
    phone.wait_for_function("() => !!document.getElementById('env-checks').dataset.result")
    assert "已开启" in phone.locator("#check-js").inner_text()
    assert PHONE["viewport"]["width"] == 360
    shot(phone, artifacts_dir, "check")


def test_javascript_off_face_upload_and_onsite_code(browser, live_server, artifacts_dir, tmp_path):
    """Without JavaScript the file input (capture=user) still carries the photo; the code page still shows."""
    from PIL import Image

    context = browser.new_context(**PHONE, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        to_methods(page, live_server.url)
        page.get_by_role("link", name="刷脸核验 + 到现场核验").click()
        assert page.locator("#camera").is_hidden()
        picture = tmp_path / "face.jpg"
        Image.new("RGB", (200, 200), (190, 170, 150)).save(picture, "JPEG")
        page.set_input_files("input[name=photo]", str(picture))
        page.get_by_role("button", name="上传照片并比对").click()
        page.wait_for_url("**/h5/verify/onsite")
        assert len(page.locator("#onsite-code").inner_text().replace(" ", "")) == 8
        page.screenshot(path=str(artifacts_dir / "journey-nojs-onsite-code.png"), full_page=True)
    finally:
        context.close()
