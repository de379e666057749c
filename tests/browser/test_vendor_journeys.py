"""The whole resident journey in Chromium with each cloud vendor's identity, SMS and face providers,
against its loopback fake: two-factor; three-factor with the SMS code the vendor was asked to send
(read from the fake's captured request); face on the vendor's own page (for Alibaba Cloud after our
page ran its device script), back to us, the verdict fetched server to server, then the operator's
on-site confirmation. A verdict brought back on the return URL is never trusted."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from erhc_h5.identity import set_providers
from tests.browser.test_journey import IDCODE, expect_code_face, operator_page, to_methods
from tests.identity import aliyun_fake, tencent_fake
from tests.identity.vendor_fake import JOURNEY_TIMEOUTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FAKES = {"tencent": (tencent_fake.FakeTencent, tencent_fake.provider_config),
         "aliyun": (aliyun_fake.FakeAliyun, aliyun_fake.provider_config)}
CHECKS = {"tencent": ("IdCardVerification", "PhoneVerification", "DetectAuth", "GetDetectInfoEnhanced"),
          "aliyun": ("Id2MetaVerify", "Mobile3MetaSimpleVerify", "InitFaceVerify", "DescribeFaceVerify")}


@pytest.fixture(params=sorted(FAKES))
def vendor(request, live_server):
    """The live server's three providers are one vendor's, pointed at its fake (on this suite's ports)."""
    cls, config_of = FAKES[request.param]
    fake = cls()
    fake.PORTS = range(18100, 18200)
    fake.start()
    config = config_of(fake, **JOURNEY_TIMEOUTS)
    live_server.app.config.update({k: v for k, v in config.items() if k != "SANDBOX"})
    set_providers(live_server.app, None)
    fake.kind = request.param
    yield fake
    set_providers(live_server.app, None)
    fake.stop()


def shot(page, artifacts_dir, vendor, name):
    page.screenshot(path=str(artifacts_dir / f"vendor-{vendor.kind}-{name}.png"), full_page=True)


def script_sources(response) -> list[str]:
    policy = response.headers["content-security-policy"]
    return next(part.split()[1:] for part in policy.split(";") if part.split()[0] == "script-src")


def to_vendor_page(phone, live_server, vendor, name="测试甲") -> str:
    """From the methods page to the vendor's face page; the token the vendor gave (from its page's URL)."""
    to_methods(phone, live_server.url, name=name)
    with phone.expect_response(re.compile(r".*/h5/methods$")) as methods:
        phone.reload()
    assert script_sources(methods.value) == ["'self'"]
    with phone.expect_response(re.compile(r".*/h5/verify/face$")) as ours:
        phone.get_by_role("link", name="刷脸核验 + 到现场核验").click()
    if vendor.kind == "aliyun":  # our page runs the vendor's script first; only its origin may load scripts
        assert script_sources(ours.value) == ["'self'", vendor.url]
        phone.wait_for_function("() => typeof window.getMetaInfo === 'function'")
        phone.get_by_role("button", name="开始刷脸").click()
    phone.wait_for_url(f"{vendor.url}/h5/face?*")
    return next(iter(parse_qs(urlsplit(phone.url).query).values()))[0]


def test_two_factor(phone, live_server, vendor, artifacts_dir):
    to_methods(phone, live_server.url)
    phone.get_by_role("button", name="姓名+身份证号核验").click()
    expect_code_face(phone)
    shot(phone, artifacts_dir, vendor, "two-factor-code")
    assert (vendor.calls, vendor.refused) == ([CHECKS[vendor.kind][0]], [])


def test_three_factor_with_the_code_the_vendor_was_asked_to_send(phone, live_server, vendor, artifacts_dir):
    to_methods(phone, live_server.url)
    phone.get_by_role("link", name="加手机短信验证").click()
    phone.get_by_role("button", name="获取验证码").click()
    assert phone.locator("#sandbox-otp").count() == 0  # no code on our page: only the phone gets it
    sent = vendor.sms[-1]
    code = sent["TemplateParamSet"][0] if vendor.kind == "tencent" else json.loads(sent["TemplateParam"])["code"]
    assert re.fullmatch(r"\d{6}", code)
    phone.fill("input[name=otp]", code)
    phone.get_by_role("button", name="提交验证").click()
    expect_code_face(phone)
    shot(phone, artifacts_dir, vendor, "three-factor-code")
    assert vendor.calls == ["SendSms", CHECKS[vendor.kind][1]] and vendor.refused == []


def test_face_on_the_vendor_page_then_on_site(browser, phone, live_server, vendor, artifacts_dir):
    to_vendor_page(phone, live_server, vendor)
    shot(phone, artifacts_dir, vendor, "face-vendor-page")
    phone.get_by_role("button", name="完成").click()
    phone.wait_for_url("**/h5/verify/onsite")
    code = phone.locator("#onsite-code").inner_text().replace(" ", "")
    assert len(code) == 8 and vendor.calls == list(CHECKS[vendor.kind][2:]) and vendor.refused == []
    shot(phone, artifacts_dir, vendor, "face-onsite-code")
    context, staff = operator_page(browser, live_server)
    try:
        staff.goto(live_server.url + "/staff/onsite/")
        staff.get_by_label("现场认证码").fill(code)
        staff.get_by_role("button", name="查找").click()
        staff.locator("#document_number").fill(IDCODE)
        staff.get_by_label("已核对证件原件,人证一致").check()
        staff.get_by_label("核验备注(请勿填写证件号码等个人信息)").fill("核验居民身份证原件")
        staff.get_by_role("button", name="确认人证一致,完成认证").click()
        assert "现场认证已确认" in staff.content()
    finally:
        context.close()
    expect_code_face(phone)


def test_a_pass_claimed_on_the_return_url_before_the_vendor_page_is_finished_is_ignored(phone, live_server, vendor):
    token = to_vendor_page(phone, live_server, vendor)
    phone.goto(f"{live_server.url}/h5/verify/face/return?token={token}&passed=1&Passed=T&SubCode=200&ErrCode=0")
    assert "/h5/verify/onsite" not in phone.url
    assert phone.locator("#unavailable-retry").get_attribute("data-reason") == "pending"  # asked the vendor: not done
    assert vendor.calls[-1] == CHECKS[vendor.kind][3]


def test_a_pass_claimed_on_the_return_url_after_a_failed_face_is_ignored(phone, live_server, vendor, artifacts_dir):
    token = to_vendor_page(phone, live_server, vendor, name="测试失败")
    back = vendor.finish_face(token)  # the vendor recorded a failed comparison
    phone.goto(back + "&passed=1&Passed=T&SubCode=200&ErrCode=0&Sim=99.9")
    phone.wait_for_url("**/h5/methods")
    assert "人脸比对未通过" in phone.locator(".flash-error").inner_text()
    shot(phone, artifacts_dir, vendor, "face-forged-return")
    assert vendor.calls[-1] == CHECKS[vendor.kind][3]
