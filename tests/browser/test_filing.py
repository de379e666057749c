"""A reviewer takes an app from application to the city's approval in Chromium, another records the
province's decision from the stamped form, prints the 申请表; the approved app launches the H5 (not
before the province's decision), and suspending it stops new launches."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import demo_json
from tests.filing.helpers import beijing_today

FILING_NO = "BROWSER0001"
ACCESS_CODE = "330100000555"  # as the province's stamped form would give it
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"}
APPLICATION = {
    "应用名称": "浏览器测试健康App", "应用备案号(可选)": "BROWSER0001", "应用所属机构": "测试市卫生健康委员会",
    "机构备案号": "ORG-BR-01", "建设单位": "测试市卫生健康委员会", "建设单位联系人": "孙建设 0571-33333333",
    "开发单位": "测试软件有限公司", "开发单位联系人": "周开发 0571-44444444",
}


@pytest.fixture
def desk(browser, live_server):
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def _screenshot_file(tmp_path):
    path = tmp_path / "ui-design.png"
    image = Image.new("RGB", (360, 640), (255, 255, 255))
    image.paste((10, 110, 60), (0, 0, 360, 80))
    image.paste((230, 230, 230), (30, 200, 330, 260))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


def test_reviewer_approves_prints_and_suspends(desk, browser, live_server, artifacts_dir, tmp_path):
    base = live_server.url
    creds = demo_json(live_server)["users"]["reviewer"]
    desk.goto(base + "/staff/login")
    desk.get_by_label("用户名").fill(creds["username"])
    desk.get_by_label("密码").fill(creds["password"])
    desk.get_by_role("button", name="登录").click()
    desk.get_by_role("link", name="应用备案").click()
    desk.get_by_role("link", name="新建备案申请").click()

    for label, value in APPLICATION.items():
        desk.get_by_label(label, exact=True).fill(value)
    desk.get_by_label("2 三要素认证").check()
    desk.get_by_label("3 面部识别").check()
    desk.get_by_role("button", name="保存草稿").click()
    expect(desk.locator("body")).to_contain_text("备案申请草稿已保存")

    desk.set_input_files("input[type=file]", str(_screenshot_file(tmp_path)))
    desk.get_by_role("button", name="上传截图").click()
    expect(desk.get_by_alt_text("实名认证界面截图1").first).to_be_visible()
    desk.get_by_role("button", name="提交审核").click()
    expect(desk.locator("body")).to_contain_text("待审核")
    filing_url = desk.url

    # Four eyes: the reviewer who prepared and submitted the filing cannot approve it; another account does.
    expect(desk.locator("body")).to_contain_text("另一名审核员")
    desk.get_by_role("button", name="退出").click()
    admin = demo_json(live_server)["users"]["admin"]
    desk.goto(base + "/staff/login")
    desk.get_by_label("用户名").fill(admin["username"])
    desk.get_by_label("密码").fill(admin["password"])
    desk.get_by_role("button", name="登录").click()
    desk.goto(filing_url)
    desk.get_by_label("管理单位意见").fill("同意报省")
    desk.get_by_role("button", name="审核通过并提交省级").click()
    expect(desk.locator("body")).to_contain_text("已提交省级,待省级审批")

    from erhc_h5.resident.launch import make_launch_url

    early = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN").new_page()
    response = early.goto(base + make_launch_url(FILING_NO, "browser-user-0", "0" * 64))
    assert not response.ok and 'data-reason="app_not_approved"' in early.content()
    early.context.close()

    # The province's stamped form comes back: its numbers, opinion and date are recorded.
    stamped = tmp_path / "stamped.pdf"
    stamped.write_bytes(b"%PDF-1.4\n% stamped by the province\n%%EOF\n")
    desk.get_by_label("应用备案号(省级分配)").fill(FILING_NO)
    desk.get_by_label("接入组件入网编码(省级分配)").fill(ACCESS_CODE)
    desk.get_by_label("管理单位意见").fill("材料齐全,同意备案")
    desk.get_by_label("省级审批日期").fill(beijing_today())
    desk.set_input_files("input[name=stamped_form]", str(stamped))
    desk.get_by_role("button", name="登记省级审批结果").click()
    secret = desk.locator("#launch-secret").inner_text().strip()
    access_code = desk.locator("#access-code").inner_text().strip()
    assert len(secret) == 64 and access_code == ACCESS_CODE
    desk.get_by_role("link", name="我已妥善保存,返回").click()
    expect(desk.locator("body")).to_contain_text("已通过")
    assert secret not in desk.content()

    desk.get_by_role("link", name="打印申请表").click()
    expect(desk.get_by_role("heading", name="市级码管平台移动应用开展接种疫苗服务备案申请表")).to_be_visible()
    for text in ("建设单位(盖章)", "管理单位(盖章)", "材料齐全,同意备案", "☑ 2、三要素认证", "☐ 1、二要素认证"):
        assert desk.get_by_text(text).first.is_visible(), text
    thumb = desk.get_by_alt_text("实名认证界面截图1")
    assert thumb.evaluate("img => img.complete && img.naturalWidth") == 360
    desk.screenshot(path=str(artifacts_dir / "filing-print.png"), full_page=True)
    desk.emulate_media(media="print")
    assert not desk.get_by_role("link", name="返回申请详情").is_visible()  # tools hidden on paper
    pdf = desk.pdf(path=str(artifacts_dir / "filing-print.pdf"), format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # the whole 申请表 on one sheet
    width, height = map(float, re.search(rb"/MediaBox\s*\[0 0 ([\d.]+) ([\d.]+)\]", pdf).groups())
    assert abs(width - 595) < 2 and abs(height - 842) < 2  # A4 in points
    desk.emulate_media(media="screen")

    resident = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    phone = resident.new_page()
    response = phone.goto(base + make_launch_url(FILING_NO, "browser-user-1", secret))
    assert response.ok and "/h5/launch" not in phone.url

    desk.get_by_role("link", name="返回申请详情").click()
    desk.get_by_role("button", name="暂停(停止新的启动)").click()
    expect(desk.locator("body")).to_contain_text("已暂停")
    response = phone.goto(base + make_launch_url(FILING_NO, "browser-user-2", secret))
    assert response.status == 403 and "已被暂停" in phone.content()
    phone.screenshot(path=str(artifacts_dir / "filing-suspended-launch.png"))
    resident.close()

    desk.get_by_role("button", name="恢复").click()
    again = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = again.new_page()
    response = page.goto(base + make_launch_url(FILING_NO, "browser-user-3", secret))
    assert response.ok and "/h5/launch" not in page.url
    again.close()


def test_ops_dashboard_and_admin_pages_render(desk, live_server, artifacts_dir):
    """The dashboard's SVG chart and the admin pages in Chromium (screenshots for review); CSP holds."""
    errors: list[str] = []
    desk.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    base = live_server.url
    for role, path, heading, shot in (("ops", "/ops", "运行监控", "ops-dashboard.png"),
                                      ("admin", "/staff/admin/users", "工作人员", "admin-users.png"),
                                      ("admin", "/staff/admin/audit", "审计日志", "admin-audit.png")):
        creds = demo_json(live_server)["users"][role]
        desk.goto(base + "/staff/login")
        if desk.get_by_role("button", name="退出").count():
            desk.get_by_role("button", name="退出").click()
            desk.goto(base + "/staff/login")
        desk.get_by_label("用户名").fill(creds["username"])
        desk.get_by_label("密码").fill(creds["password"])
        desk.get_by_role("button", name="登录").click()
        desk.goto(base + path)
        assert desk.get_by_role("heading", name=heading, exact=True).is_visible()
        desk.screenshot(path=str(artifacts_dir / shot), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e]
