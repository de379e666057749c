"""Done-when: the code face from a real browser screenshot, decoded by zxing-cpp, posted to the scan API."""
from __future__ import annotations

import io
import json
import time

import requests
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from erhc_h5.code import tokens
from erhc_h5.db import session_scope
from erhc_h5.cards.service import issue_or_update_card
from erhc_h5.cards.models import AppUser
from erhc_h5.scan import service as scan_service
from erhc_h5.scan.devices import enrol_device
from tests.browser.conftest import demo_json
from tests.code.helpers import idcode
from tests.support import demo_app


def _launch_and_issue(phone, live_server, *, name, seq, methods):
    """Perform the sandbox launch at /, then give that app user a card in the live server's DB."""
    phone.context.clear_cookies()
    phone.goto(live_server.url + "/")
    app = live_server.app
    cookie = next(c for c in phone.context.cookies() if c["name"] == app.config["SESSION_COOKIE_NAME"])
    data = app.session_interface.get_signing_serializer(app).loads(cookie["value"])
    with app.app_context(), session_scope(app) as session:
        user = session.get(AppUser, data["resident"]["app_user"])
        identity = {"name": name, "id_card_type_code": "01", "idcode": idcode(seq), "nation": "01",
                    "phone": "13900000000", "county_code": "330106"}
        card = issue_or_update_card(session, identity, demo_app(session), methods=methods,
                                    app_user=user)
        session.flush()
        user.card_id = card.id
        return card.id, identity


def _code_from_screenshot(phone, live_server, artifacts_dir, label) -> str:
    phone.goto(live_server.url + "/h5/code")
    img = phone.get_by_alt_text("电子健康码")
    img.wait_for()
    shot = img.screenshot()
    phone.screenshot(path=str(artifacts_dir / f"code-face-{label}.png"))  # masked name/number only
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, "the QR in the screenshot did not decode"
    return found[0].text


def _scan(live_server, token, body):
    return requests.post(live_server.url + "/api/v1/scan", data=body if isinstance(body, bytes) else json.dumps(body),
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, timeout=10)


def test_code_face_screenshot_scans(phone, live_server, artifacts_dir, monkeypatch):
    device = demo_json(live_server)["device_token"]
    _, identity = _launch_and_issue(phone, live_server, name="李四光", seq=411, methods="2")
    text = _code_from_screenshot(phone, live_server, artifacts_dir, "authenticated")
    assert phone.get_by_text("已实名").first.is_visible() and identity["name"] not in phone.content()
    r = _scan(live_server, device, {"code": text})
    assert r.status_code == 200 and r.json()["result"] == "authenticated"
    assert r.json()["resident"]["name"] == identity["name"] and r.json()["resident"]["idcode"] == identity["idcode"]

    # Tampered, foreign, malformed.
    bad = text[:-5] + ("A" if text[-5] != "A" else "B") + text[-4:]  # inside the signature, not its last char
    assert _scan(live_server, device, {"code": bad}).json()["error"] == "bad_signature"
    foreign = tokens._signer("another-platform").sign(text.rpartition(".")[0].replace(text.split(".")[2], "zz99", 1)).decode()
    assert _scan(live_server, device, {"code": foreign}).json()["error"] == "unknown_key"
    other_city = tokens._signer("another-city").sign(text.rpartition(".")[0].replace(".3301.", ".3302.", 1)).decode()
    assert _scan(live_server, device, {"code": other_city}).json()["error"] == "foreign_issuer"
    assert _scan(live_server, device, {"code": "https://example.org/other-qr"}).json()["error"] == "malformed"

    # Replayed at a second device.
    with live_server.app.app_context(), session_scope(live_server.app) as session:
        _, second = enrol_device(session, "二号扫码枪", "城西接种点")
    r = _scan(live_server, second, {"code": text})
    assert r.status_code == 422 and r.json()["error"] == "replayed"

    # The page refreshes the code by itself (JS) before expiry, without reloading.
    live_server.app.config["CODE_TTL_SECONDS"] = 10
    phone.clock.install()  # the page's clock, moved on by the test: no waiting for the refresh
    phone.goto(live_server.url + "/h5/code")
    first_src = phone.get_by_alt_text("电子健康码").get_attribute("src")
    phone.clock.run_for(3000)  # 10 s codes are refreshed 8 s before they expire
    phone.wait_for_function("(s) => document.getElementById('code-img').src !== s", arg=first_src, timeout=15000)

    # A screenshot of an old code stops working when it expires (and the servers' clock tolerance).
    live_server.app.config.update(CODE_TTL_SECONDS=2, CODE_CLOCK_SKEW_SECONDS=1)
    old = _code_from_screenshot(phone, live_server, artifacts_dir, "short-ttl")
    monkeypatch.setattr(scan_service, "wall_clock", lambda: time.time() + 4)  # the server's clock, 4 s on
    r = _scan(live_server, device, {"code": old})
    assert r.status_code == 422 and r.json()["error"] == "expired"
    live_server.app.config["CODE_TTL_SECONDS"] = 60


def test_unauthenticated_card_gives_the_exact_message(phone, live_server, artifacts_dir):
    device = demo_json(live_server)["device_token"]
    _launch_and_issue(phone, live_server, name="王五", seq=521, methods=None)
    text = _code_from_screenshot(phone, live_server, artifacts_dir, "not-authenticated")
    assert "未实名认证" in phone.content()
    r = _scan(live_server, device, {"code": text})
    assert r.status_code == 200
    assert r.json() == {"result": "not_authenticated", "message": "该用户未进行实名认证"}


def test_scan_console_keyboard_wedge(phone, live_server, artifacts_dir):
    demo = demo_json(live_server)
    _launch_and_issue(phone, live_server, name="赵六", seq=631, methods="1")
    text = _code_from_screenshot(phone, live_server, artifacts_dir, "console")
    phone.context.clear_cookies()
    phone.goto(live_server.url + "/scan")
    phone.get_by_label("设备令牌").fill(demo["device_token"])
    phone.get_by_role("button", name="进入扫码核验").click()
    box = phone.get_by_label("扫码内容")
    assert box.evaluate("e => e === document.activeElement")
    phone.keyboard.type(text)
    phone.keyboard.press("Enter")  # what a wedge scanner sends
    phone.wait_for_selector("#verdict")
    assert phone.locator("#verdict").get_attribute("data-result") == "authenticated"
    phone.screenshot(path=str(artifacts_dir / "scan-console-verdict.png"))


def test_console_prints_the_voucher_in_place(phone, live_server, artifacts_dir):
    """Print is the browser's print of the console itself: no tab or window opens, and on paper only
    the voucher shows."""
    demo = demo_json(live_server)
    _launch_and_issue(phone, live_server, name="赵六", seq=641, methods="1")
    text = _code_from_screenshot(phone, live_server, artifacts_dir, "print")
    phone.context.clear_cookies()
    phone.context.add_init_script("window.__prints = 0; window.print = function () { window.__prints += 1; };")
    opened = []
    phone.context.on("page", lambda page: opened.append(page))
    phone.goto(live_server.url + "/scan")
    phone.get_by_label("设备令牌").fill(demo["device_token"])
    phone.get_by_role("button", name="进入扫码核验").click()
    for _ in range(2):  # two residents in a row at one desk: still the one page
        phone.get_by_label("扫码内容").fill(text)
        phone.get_by_role("button", name="核验", exact=True).click()
        phone.wait_for_selector("#verdict")
    console_url = phone.url
    assert phone.locator("#verdict").get_attribute("data-result") == "authenticated"
    assert not phone.locator("#voucher-print").is_visible()  # on screen the verdict, not the voucher
    phone.get_by_role("link", name="打印接种凭证").click()
    phone.wait_for_function("() => window.__prints === 1")
    phone.wait_for_timeout(300)  # a popup opened by the click would have arrived by now
    assert opened == [] and len(phone.context.pages) == 1 and phone.url == console_url
    phone.emulate_media(media="print")
    voucher = phone.locator("#voucher-print")
    assert voucher.is_visible() and "接种疫苗凭证" in voucher.inner_text() and "赵六" in voucher.inner_text()
    assert not phone.locator("#scan-form").is_visible() and not phone.locator("#verdict").is_visible()
    assert "(北京时间)" in voucher.inner_text()
    phone.emulate_media(media="screen")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                      st.dictionaries(st.text(max_size=6), st.text(max_size=120), max_size=3).map(lambda d: json.dumps(d).encode())))
def test_live_fuzz_never_500(live_server, body):
    r = _scan(live_server, demo_json(live_server)["device_token"], body)
    assert r.status_code < 500
