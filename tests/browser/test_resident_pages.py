"""Every resident page at 360×740, in normal and large text, as an elderly resident meets it.

Each page is saved to ``test-artifacts/resident-pages/<NN>-<name>-<normal|large>.png`` (sandbox people
only) and must pass axe-core with no serious or critical violation, show no reason code in its visible
text, and in large text meet the MIIT 适老化 norm (text ≥ 18 px, line height ≥ 1.3, main controls
≥ 60 × 60 px); in normal text every control stays ≥ 44 × 44 px. Every path is walked twice, the
second time with the ``erhc_large`` cookie that the 大字模式 link sets (base.html then puts the
``large`` class on <html>), each walk with its own sandbox people.
"""
from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe

from erhc_h5 import migrate

from erhc_h5.sandbox import demo
from erhc_h5.db import get_db, session_scope
from erhc_h5.resident.launch import make_launch_url
from tests.browser.conftest import PHONE
from tests.browser.steps import AGREE, agree, fill_identity, fill_profile, start, to_methods
from tests.support import ARTIFACTS, LiveServer, demo_app, drop_database, make_app, new_database_url

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = ARTIFACTS / "resident-pages"

# The stable reasons the resident flow can produce (launch refusals, the no-session page, provider
# verdicts and outages, check outcomes, photo and SMS problems, error pages), read from the code's
# vocabulary and written here: none may reach a resident's eyes.
REASON_CODES = (
    "bad_ticket", "unknown_app", "app_not_approved", "app_suspended", "bad_signature", "expired", "replayed",
    "cross_site", "enter_from_app", "no_session",
    "mismatch", "no_record", "phone_mismatch", "face_mismatch", "liveness_failed",
    "locked", "failed", "slowed", "step_up", "step_up_required", "onsite_taken", "phone_unproven", "busy",
    "person_busy", "attempts_used", "method_not_filed", "record_invalid", "retry", "pending_onsite",
    "provider_unavailable", "timeout", "upstream_error", "provider_refused", "bad_reply", "not_configured",
    "face_expired", "pending", "no_image", "too_large", "not_an_image", "bad_image",
    "no_code", "too_many_tries", "bad_format", "wrong", "cooldown", "phone_limit",
    "bad_request", "unauthorized", "forbidden", "not_found", "rate_limited", "internal_error", "unavailable",
    "database_unavailable", "csrf_failed", "no_card", "superseded", "document_mismatch", "onsite_rejected",
)
CODE_WORDS = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(REASON_CODES) + r")(?![A-Za-z0-9_])")
CODE_LABEL = re.compile(r"代码[:：]")

# Controls a resident taps: buttons, button-styled links and labels, fields, checkbox labels, header tools
# (and, in MEASURE, a link standing alone; a link inside a sentence is text).
CONTROLS = ("button, a.btn, label.btn, select, textarea, .r-tools a, label:has(input[type=checkbox]), "
            "input:not([type=hidden]):not([type=checkbox]):not([type=radio]):not([type=file])")
MEASURE = """([controls, minSide, minText]) => {
  const seen = el => { const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    return r.width > 2 && r.height > 2 && r.right > 0 && r.bottom > 0 && cs.visibility !== 'hidden'; };
  const name = el => (el.innerText || el.value || el.getAttribute('aria-label') || el.tagName).trim().slice(0, 30);
  const out = {small: [], tight: [], targets: []};
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const done = new Set();
  while (walk.nextNode()) {
    const el = walk.currentNode.parentElement;
    if (!walk.currentNode.textContent.trim() || done.has(el) || !seen(el)) continue;
    done.add(el);
    const cs = getComputedStyle(el), size = parseFloat(cs.fontSize);
    const line = cs.lineHeight === 'normal' ? 1.2 * size : parseFloat(cs.lineHeight);
    if (minText && size < minText - 0.01) out.small.push(`${name(el)}: ${size}px`);
    if (minText && line < 1.3 * size - 0.01) out.tight.push(`${name(el)}: ${line}/${size}`);
  }
  const alone = a => a.parentElement.innerText.trim() === a.innerText.trim();  // a link that is not in a sentence
  const links = [...document.querySelectorAll('main a:not(.btn)')].filter(alone);
  for (const el of [...document.querySelectorAll(controls), ...links]) {
    if (!seen(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.height < minSide - 0.01 || r.width < minSide - 0.01)
      out.targets.push(`${name(el)}: ${Math.round(r.width)}×${Math.round(r.height)}`);
  }
  return out;
}"""


def ric(body: str) -> str:
    """GB 11643-1999 §5.2: the MOD 11-2 check character, computed here from the standard's text."""
    weights = [pow(2, 17 - k, 11) for k in range(17)]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


class Pages:
    """Saves and checks each page in one text size; problems are gathered and asserted at the end."""

    def __init__(self, mode: str):
        self.mode, self.large = mode, mode == "large"
        self.axe = Axe()
        self.problems: list[str] = []
        SHOTS.mkdir(parents=True, exist_ok=True)

    def idcode(self, n: int) -> str:
        """A sandbox person of this walk (each walk has its own, so locks and cards do not carry over)."""
        return ric(f"33010619600101{n + (500 if self.large else 0):03d}")

    def see(self, page, number: str, name: str) -> None:
        page.wait_for_load_state("load")
        label = f"{number}-{name}-{self.mode}"
        self._check(page, label, large=self.large)
        page.screenshot(path=str(SHOTS / f"{label}.png"), full_page=True)

    def _check(self, page, label: str, *, large: bool) -> None:
        shown = page.evaluate("() => document.documentElement.classList.contains('large')")
        if shown != large:
            self.problems.append(f"{label}: the page ignored the text size cookie")
        results = self.axe.run(page).response
        for v in results["violations"]:
            if v["impact"] in ("serious", "critical"):
                where = "; ".join(" ".join(map(str, n["target"])) for n in v["nodes"][:4])
                self.problems.append(f"{label}: axe {v['id']} ({v['impact']}): {where}")
        text = page.evaluate("() => document.body.innerText")
        for found in CODE_WORDS.findall(text) + CODE_LABEL.findall(text):
            self.problems.append(f"{label}: reason code on the page: {found!r}")
        sizes = page.evaluate(MEASURE, [CONTROLS, 60 if large else 44, 18 if large else 0])
        for kind, items in sizes.items():
            if items:
                self.problems.append(f"{label}: {kind}: {items[:6]}")

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One app and server for the module: a fresh migrated database with the demo data, CSRF on."""
    url = new_database_url(tmp_path_factory.mktemp("resident-pages"))
    app = make_app(url, WTF_CSRF_ENABLED=True, PROVINCE_URL="http://127.0.0.1:9/unused")
    migrate.upgrade(app)
    with app.app_context(), session_scope(app) as session:
        app.config["DEMO"] = demo.seed(app, session)
    live = LiveServer(app).start()
    yield live
    live.stop()
    get_db(app).engine.dispose()
    drop_database(url)


@pytest.fixture(params=["normal", "large"])
def pages(request):
    checker = Pages(request.param)
    yield checker
    checker.assert_clean()


@pytest.fixture
def new_phone(browser, server, pages):
    """Phone-sized pages, each in its own browser context (its own resident); the camera is granted;
    in the large walk the context carries the large-text cookie."""
    contexts = []

    def make(init_script: str | None = None):
        context = browser.new_context(**PHONE)
        context.grant_permissions(["camera"], origin=server.url)
        if pages.large:
            context.add_cookies([{"name": "erhc_large", "value": "1", "url": server.url}])
        if init_script:
            context.add_init_script(init_script)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        return page

    yield make
    for context in contexts:
        context.close()


def launch_url(server, uid: str, hint: str | None = None) -> str:
    with server.app.app_context(), session_scope(server.app) as session:
        app = demo_app(session)
        return make_launch_url(app, uid, app.launch_secret, base=server.url, hint=hint)


def refused_until_ticked(page, pages, button: str, error: str, label: str, shot: tuple[str, str]) -> None:
    """Press ``button`` with its box unticked: the page shows ``error`` (seen as ``shot``); then tick
    ``label`` and press again."""
    page.get_by_role("button", name=button).click()
    page.locator(error).wait_for()
    pages.see(page, *shot)
    page.get_by_label(label).check()
    page.get_by_role("button", name=button).click()


def test_launch_confirm_consent_forms_two_factor_code_and_cancel(new_phone, server, pages):
    page = new_phone()
    page.goto(server.url + "/")  # the demo launch, as the city app opens the service
    page.wait_for_url("**/h5/service")
    page.goto(launch_url(server, f"resident-pages-second-account-{pages.mode}", hint="138****0001"))
    page.wait_for_url("**/h5/launch/confirm")
    assert page.locator("#launch-hint").inner_text() == "138****0001"
    pages.see(page, "01", "launch-confirm")
    page.get_by_role("button", name="是我本人的账号,切换").click()
    page.wait_for_url("**/h5/service")
    pages.see(page, "02", "service")
    page.get_by_role("link", name="开始实名认证").click()
    page.wait_for_url("**/h5/consent")
    pages.see(page, "03", "consent")
    refused_until_ticked(page, pages, "同意并继续", "#agree-error", AGREE, ("04", "consent-error"))
    page.wait_for_url("**/h5/identity")
    pages.see(page, "05", "identity")
    fill_identity(page, "测试1", "330106199003071232")
    page.locator("#name-error").wait_for()
    page.locator("#idcode-error").wait_for()
    pages.see(page, "06", "identity-error")
    fill_identity(page, "测试甲", pages.idcode(1))
    page.wait_for_url("**/h5/profile")
    pages.see(page, "07", "profile")
    fill_profile(page, "12345")
    page.locator("#phone-error").wait_for()
    pages.see(page, "08", "profile-error")
    fill_profile(page, "13800000001")
    page.wait_for_url("**/h5/methods")
    pages.see(page, "09", "methods")
    page.get_by_role("button", name="姓名+身份证号核验").click()
    page.wait_for_url("**/h5/code")
    assert page.locator("#code-state").inner_text().startswith("已实名")
    pages.see(page, "10", "code-authenticated")
    page.get_by_role("link", name="扫码记录").click()
    page.wait_for_url("**/h5/code/history")
    pages.see(page, "11", "code-history")
    page.goto(server.url + "/h5/code/cancel")
    pages.see(page, "12", "cancel")
    refused_until_ticked(page, pages, "确认注销", "#confirm-error", "我已了解上述后果,确认注销本人的电子健康码",
                         ("13", "cancel-error"))
    page.wait_for_url("**/h5/service")
    assert "开始实名认证" in page.locator("main").inner_text()  # the card is gone: the journey starts over
    pages.see(page, "14", "cancelled")


def test_three_factor_with_sms_then_a_weaker_method_on_the_stronger_card(new_phone, server, pages):
    idcode = pages.idcode(2)
    page = new_phone()
    to_methods(page, server.url, "测试乙", idcode, phone="13800000002")
    page.get_by_role("link", name="加手机短信验证").click()
    page.wait_for_url("**/h5/verify/sms")
    pages.see(page, "15", "sms")
    page.get_by_role("button", name="获取验证码").click()
    code = page.locator("#sandbox-otp strong").inner_text()
    pages.see(page, "16", "sms-sent")
    page.fill("input[name=otp]", "123456" if code != "123456" else "654321")
    page.get_by_role("button", name="提交验证").click()
    page.locator("#otp-error").wait_for()
    pages.see(page, "17", "sms-error")
    page.fill("input[name=otp]", code)
    page.get_by_role("button", name="提交验证").click()
    page.wait_for_url("**/h5/code")
    pages.see(page, "18", "code-three-factor")
    other = new_phone()  # another account of the same person, with the weaker method
    to_methods(other, server.url, "测试乙", idcode, phone="13800000002")
    other.get_by_role("button", name="姓名+身份证号核验").click()
    other.wait_for_url("**/h5/methods")
    assert "更高级别" in other.locator(".flash-error").inner_text()
    pages.see(other, "19", "step-up")


def test_face_capture_pending_onsite_and_its_code(new_phone, server, pages, tmp_path):
    from PIL import Image

    page = new_phone()
    to_methods(page, server.url, "测试丙", pages.idcode(3), phone="13800000003")
    page.get_by_role("link", name="刷脸核验 + 到现场核验").click()
    page.wait_for_url("**/h5/verify/face")
    page.wait_for_function("() => { const v = document.getElementById('preview');"
                           " return v.readyState >= 2 && v.videoWidth > 0; }")
    pages.see(page, "20", "face-camera")
    page.get_by_role("button", name="上传照片并比对").click()  # nothing taken or chosen yet
    page.locator("#photo-error").wait_for()
    pages.see(page, "21", "face-error")
    page.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    page.get_by_role("button", name="拍照并提交").click()
    page.wait_for_url("**/h5/verify/onsite")
    assert "人脸识别已通过" in page.locator("main").inner_text()
    pages.see(page, "22", "onsite-pending-face")
    page.goto(server.url + "/h5/code")
    assert "人脸已通过,待现场核验" in page.locator("#code-state").inner_text()
    pages.see(page, "23", "code-face-waiting")

    # A webview without an in-page camera: the big camera and album buttons, no English file control.
    no_camera = new_phone("Object.defineProperty(navigator, 'mediaDevices', {value: undefined});")
    to_methods(no_camera, server.url, "测试丁", pages.idcode(4), phone="13800000004")
    no_camera.get_by_role("link", name="刷脸核验 + 到现场核验").click()
    no_camera.locator("#camera-problem").wait_for()
    camera, album = no_camera.locator("label[for=photo]"), no_camera.locator("label[for=photo-album]")
    assert camera.inner_text() == "打开相机拍照" and album.inner_text() == "从相册选择照片"
    assert camera.is_visible() and album.is_visible()
    assert all(box["width"] <= 1 and box["height"] <= 1
               for box in (i.bounding_box() for i in no_camera.locator("input[type=file]").all()))
    text = no_camera.evaluate("() => document.body.innerText")
    assert not re.search(r"Choose File|No file chosen|Browse", text)
    pages.see(no_camera, "24", "face-no-camera")
    picture = tmp_path / "face.jpg"
    Image.new("RGB", (200, 200), (190, 170, 150)).save(picture, "JPEG")
    with no_camera.expect_file_chooser() as chooser:
        album.click()
    assert not chooser.value.element.get_attribute("capture")  # the album, not the camera
    chooser.value.set_files(str(picture))  # chosen: the page sends it at once
    no_camera.wait_for_url("**/h5/verify/onsite")


def test_passport_holder_onsite_choice_and_the_points_page(new_phone, server, pages):
    page = new_phone()
    start(page, server.url)
    agree(page)
    page.fill("input[name=name]", "TEST WU")
    page.select_option("select[name=id_card_type_code]", "03")
    page.fill("input[name=idcode]", f"E{pages.idcode(5)[-8:-1]}")
    page.select_option("select[name=nationality]", "USA")
    page.get_by_role("button", name="下一步").click()
    page.wait_for_url("**/h5/profile")
    page.locator("select[name=sex]").wait_for()  # a passport says nothing of sex and birth date
    pages.see(page, "25", "profile-passport")
    page.select_option("select[name=sex]", "2")
    page.fill("input[name=birthday]", "1950-06-15")
    fill_profile(page, "13800000005")
    page.wait_for_url("**/h5/methods")
    page.get_by_role("link", name="查看现场核验点").click()
    page.wait_for_url("**/h5/onsite-points?**")
    assert page.locator("#onsite-points li").count() >= 1
    assert page.locator("#hotline").get_attribute("href").startswith("tel:")
    pages.see(page, "26", "onsite-points")
    page.get_by_role("link", name="返回").click()
    page.wait_for_url("**/h5/methods")
    page.get_by_role("button", name="到现场核验").click()
    page.wait_for_url("**/h5/verify/onsite")
    pages.see(page, "27", "onsite-pending")
    page.goto(server.url + "/h5/code")  # a registration awaiting its check holds a code that says so
    assert page.locator("#code-state").inner_text().startswith("未实名认证")
    pages.see(page, "28", "code-unverified")
    page.goto(server.url + "/h5/verify/onsite")
    page.get_by_role("link", name="查看全部现场核验点").click()
    page.wait_for_url("**/h5/onsite-points?**")
    page.get_by_role("link", name="返回").click()
    page.wait_for_url("**/h5/verify/onsite")


def refute(page) -> None:
    """A two-factor check the sandbox refutes (the name contains 失败), waiting for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name="姓名+身份证号核验").click()


def test_refuted_failed_and_locked(new_phone, server, pages):
    page = new_phone()
    idcode = pages.idcode(6)
    to_methods(page, server.url, "测试失败", idcode, phone="13800000006")
    refute(page)
    assert "核验未通过" in page.locator(".flash-error").inner_text()
    pages.see(page, "29", "refuted")
    seen_failed = False
    for _ in range(server.app.config["LOCKOUT_FAILURES"] - 1):
        if page.url.endswith("/h5/status"):
            if not seen_failed:
                assert "实名认证未通过" in page.locator("main").inner_text()
                pages.see(page, "30", "failed")
                seen_failed = True
            page.get_by_role("link", name="重新认证").click()
            to_methods(page, server.url, "测试失败", idcode, phone="13800000006", from_root=False)
        refute(page)
    assert page.url.endswith("/h5/status")
    assert "认证已暂时锁定" in page.locator("main").inner_text() and seen_failed
    pages.see(page, "31", "locked")
    page.get_by_role("link", name="查看全部现场核验点").click()
    page.wait_for_url("**/h5/onsite-points?**")


def test_provider_outage(new_phone, server, pages):
    page = new_phone()
    to_methods(page, server.url, "测试己", pages.idcode(7), phone="13800000007")
    server.app.config["SANDBOX_PROVIDER_MODE"] = "timeout"
    try:
        page.get_by_role("button", name="姓名+身份证号核验").click()
        page.get_by_text("不是您的问题", exact=False).wait_for()
        pages.see(page, "32", "provider-outage")
    finally:
        server.app.config["SANDBOX_PROVIDER_MODE"] = "normal"


def test_pages_before_any_launch(new_phone, server, pages):
    page = new_phone()
    page.goto(server.url + "/h5/onsite-points")  # looked up before going, no session
    assert page.locator("#onsite-points li").count() >= 1
    pages.see(page, "33", "onsite-points-no-session")
    page.goto(server.url + "/h5/launch?app=x&uid=y")
    assert page.locator("[data-reason]").get_attribute("data-reason") == "bad_ticket"
    pages.see(page, "34", "launch-error")
    page.goto(server.url + "/h5/check")
    page.wait_for_function("() => !!document.getElementById('env-checks').dataset.result")
    pages.see(page, "35", "check")
    start(page, server.url)  # a form left open too long: its token no longer matches
    page.locator("input[name=csrf_token]").evaluate("input => { input.value = 'stale'; }")
    agree(page)
    assert page.locator("[data-reason]").get_attribute("data-reason") == "csrf_failed"
    pages.see(page, "36", "page-expired")
    page = new_phone()  # a browser the city app never opened the service in
    server.app.config["SANDBOX"] = False  # production: no demo launch, the resident must come from the app
    try:
        page.goto(server.url + "/h5/methods")
        assert page.locator("[data-reason]").get_attribute("data-reason") == "no_session"
        pages.see(page, "37", "enter-from-app")
    finally:
        server.app.config["SANDBOX"] = True
