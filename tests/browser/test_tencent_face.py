"""The H5 face flow through Tencent Cloud's page (a loopback fake) in Chromium: the resident leaves
for the vendor's page, comes back, and the verdict is fetched server to server by BizToken."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from erhc_h5.identity import set_providers
from tests.browser.steps import to_methods
from tests.identity.tencent_fake import FakeTencent, provider_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FACE_LINK = "刷脸核验 + 到现场核验"


@pytest.fixture
def tencent_face(live_server):
    """The live server's face provider is Tencent Cloud, pointed at the fake."""
    fake = FakeTencent().start()
    config = provider_config(fake)
    live_server.app.config.update({k: v for k, v in config.items() if k.startswith(("TENCENT_", "PROVIDER_"))},
                                  FACE_PROVIDER="tencent")
    set_providers(live_server.app, None)
    yield fake
    set_providers(live_server.app, None)
    fake.stop()


def to_vendor_page(phone, live_server, fake, name="测试甲") -> str:
    to_methods(phone, live_server.url, name=name)
    phone.get_by_role("link", name=FACE_LINK).click()
    phone.wait_for_url(f"{fake.url}/h5/face?token=*")
    return parse_qs(urlsplit(phone.url).query)["token"][0]


def test_resident_finishes_vendor_page_and_verdict_is_fetched(phone, live_server, tencent_face, artifacts_dir):
    to_vendor_page(phone, live_server, tencent_face)
    phone.screenshot(path=str(artifacts_dir / "tencent-face-vendor-page.png"), full_page=True)
    phone.get_by_role("button", name="完成").click()
    phone.wait_for_url("**/h5/verify/onsite")
    assert tencent_face.calls == ["DetectAuth", "GetDetectInfoEnhanced"]
    assert tencent_face.refused == []


def test_forged_passed_on_return_url_is_ignored(phone, live_server, tencent_face):
    token = to_vendor_page(phone, live_server, tencent_face)
    # The resident never completes the vendor's page and claims success on the way back.
    phone.goto(f"{live_server.url}/h5/verify/face/return?token={token}&passed=1&ErrCode=0&Sim=99.9")
    assert "/h5/verify/onsite" not in phone.url
    assert "服务暂时不可用" in phone.content()  # still pending at the vendor: retry, no pass
    assert tencent_face.calls[-1] == "GetDetectInfoEnhanced"


def test_forged_passed_after_a_failed_face_is_ignored(phone, live_server, tencent_face):
    token = to_vendor_page(phone, live_server, tencent_face, name="测试失败")
    back = tencent_face.finish_face(token)  # the vendor recorded a failed comparison
    phone.goto(back + "&passed=1&ErrCode=0&Sim=99.9")
    assert "/h5/verify/onsite" not in phone.url
    assert "人脸比对未通过" in phone.content()
