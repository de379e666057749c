"""Done-when of the sandbox province's vaccination page, in Chromium: a resident passes in the H5,
the record goes up (one sync pass), a screenshot of the code face is decoded by zxing-cpp, the
decoded text is typed into the page as a wedge scanner types it, and the nurse sees the basic
information and prints the voucher on the same page; a resident awaiting on-site verification
shows exactly 该用户未进行实名认证. Screenshots hold the fake sandbox people only, their name and
number masked."""
from __future__ import annotations

import pytest

from erhc_h5.sync.worker import Worker
from tests.browser.steps import IDCODE, to_methods
from tests.browser.test_journey import expect_code_face
from tests.code.helpers import idcode
from tests.support import qr_texts

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAGE = "/sandbox-province/vaccination"


def code_from_screenshot(phone, live_server) -> str:
    """The code face as a camera sees it: a screenshot of the image, read by zxing-cpp."""
    phone.goto(live_server.url + "/h5/code")
    image = phone.get_by_alt_text("电子健康码")
    image.wait_for()
    found = qr_texts(image.screenshot())
    assert len(found) == 1, "the QR in the screenshot did not decode"
    return found[0]


def nurse_scans(browser, live_server, text):
    """The nurse's desktop browser: the page, the field focused, the text typed and Enter."""
    context = browser.new_context(viewport={"width": 1024, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(live_server.url + PAGE)
    assert page.locator("#code").evaluate("e => e === document.activeElement")
    camera = page.evaluate("() => 'BarcodeDetector' in window && !!navigator.mediaDevices")
    assert page.locator("#camera-start").is_visible() == camera
    page.keyboard.type(text)
    page.keyboard.press("Enter")  # what a wedge scanner sends after the text
    page.wait_for_selector("#verdict")
    assert page.url == live_server.url + PAGE  # POST: the code is in no URL
    return context, page


def test_authenticated_resident_is_shown_and_the_voucher_prints_on_the_same_page(browser, phone, live_server,
                                                                                  artifacts_dir):
    app = live_server.app
    to_methods(phone, live_server.url)
    phone.get_by_role("button", name="姓名+身份证号核验").click()
    expect_code_face(phone)
    app.config.update(PROVINCE_URL=live_server.url + "/sandbox-province", SYNC_RETRY_BASE_SECONDS=0)
    assert Worker(app).once()["accepted"] == 1
    text = code_from_screenshot(phone, live_server)
    assert text.startswith("EHC2.3301.")
    context, page = nurse_scans(browser, live_server, text)
    try:
        assert page.locator("#verdict").get_attribute("data-result") == "authenticated"
        assert page.locator("#resident-name").inner_text() == "测试甲"
        assert page.locator("#resident-idcode").inner_text() == IDCODE
        assert page.locator("#resident-birthday").inner_text() == "1990-03-07"
        assert page.locator("#resident-methods").inner_text() == "二要素认证"
        assert page.locator("#cross-check").get_attribute("data-check") == "match"
        private = [page.locator(s) for s in ("#resident-name", "#resident-idcode", "#resident-birthday",
                                             "#voucher-name", "#voucher-birthday")]
        page.screenshot(path=str(artifacts_dir / "sandbox-vaccination-case-two.png"), full_page=True, mask=private)
        page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
        page.get_by_role("button", name="打印接种疫苗凭证").click()
        assert page.evaluate("() => window.printed") == 1 and context.pages == [page]  # no popup, no new tab
        page.emulate_media(media="print")
        assert page.locator("#voucher").is_visible() and not page.locator("#verdict").is_visible()
        assert "接种疫苗凭证" in page.locator("#voucher").inner_text()
        assert page.locator("#voucher-idcode").inner_text() == IDCODE[:4] + "*" * 10 + IDCODE[-4:]
        page.screenshot(path=str(artifacts_dir / "sandbox-vaccination-voucher-print.png"), full_page=True, mask=private)
    finally:
        context.close()


def test_resident_awaiting_onsite_verification_is_case_one(browser, phone, live_server, artifacts_dir):
    app = live_server.app
    to_methods(phone, live_server.url, name="测试乙", phone="13800000002", idcode=idcode(733))
    phone.get_by_role("link", name="刷脸核验 + 到现场核验").click()
    phone.wait_for_function("() => { const v = document.getElementById('preview');"
                            " return v.readyState >= 2 && v.videoWidth > 0; }")
    phone.get_by_role("button", name="拍照并提交").click()
    phone.wait_for_url("**/h5/verify/onsite")  # face passed; the document is not yet seen at a desk
    app.config.update(PROVINCE_URL=live_server.url + "/sandbox-province", SYNC_RETRY_BASE_SECONDS=0)
    Worker(app).once()
    text = code_from_screenshot(phone, live_server)
    context, page = nurse_scans(browser, live_server, text)
    try:
        assert page.locator("#verdict").get_attribute("data-result") == "not_authenticated"
        assert page.locator("#verdict-message").inner_text() == "该用户未进行实名认证"
        assert page.get_by_role("button", name="打印接种疫苗凭证").count() == 0
        page.screenshot(path=str(artifacts_dir / "sandbox-vaccination-case-one.png"), full_page=True)
    finally:
        context.close()
