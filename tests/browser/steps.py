"""The resident's steps in a browser page, shared by the browser tests: the demo launch, the consent,
the identity and profile forms, and the way to the methods page."""
from __future__ import annotations

IDCODE = "330106199003071236"  # valid check character; obviously fake names in the tests
AGREE = "我已阅读并同意上述个人信息处理说明"


def start(page, base: str) -> None:
    """The demo launch at ``base``/ (as the city app opens the service), then 开始实名认证: the consent page."""
    page.goto(base + "/")
    page.get_by_role("link", name="开始实名认证").click()


def agree(page) -> None:
    """Tick the consent box and go on."""
    page.get_by_label(AGREE).check()
    page.get_by_role("button", name="同意并继续").click()


def fill_identity(page, name: str, idcode: str) -> None:
    page.fill("input[name=name]", name)
    page.select_option("select[name=id_card_type_code]", "01")
    page.fill("input[name=idcode]", idcode)
    page.get_by_role("button", name="下一步").click()


def fill_profile(page, phone: str) -> None:
    page.select_option("select[name=nation]", "01")
    page.fill("input[name=phone]", phone)
    page.select_option("select[name=county_code]", "330106")
    page.fill("input[name=current_address]", "测试路1号")
    page.get_by_role("button", name="下一步").click()


def to_methods(page, base: str, name: str = "测试甲", idcode: str = IDCODE, phone: str = "13800000001",
               from_root: bool = True) -> None:
    """From ``base``/ (the demo launch) through consent, identity and profile to the methods page;
    ``from_root=False`` starts at the consent page the browser is on."""
    if from_root:
        start(page, base)
    agree(page)
    fill_identity(page, name, idcode)
    fill_profile(page, phone)
    page.wait_for_url("**/h5/methods")
